# onebudget API server. Runs against the PostgreSQL server named by DATABASE_URL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 onebudget
WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY service ./service
COPY schema ./schema
COPY migrations ./migrations
RUN pip install --no-deps -e .

USER onebudget
# The container listens on all interfaces in plain HTTP, so TLS must end at a proxy in
# front, and ONEBUDGET_ISSUER must be given at run time as the public https:// URL:
# without it `serve` refuses to start and says so. No docs, GraphiQL or GraphQL
# introspection in production images.
ENV ONEBUDGET_HOST=0.0.0.0 \
    ONEBUDGET_PORT=8000 \
    ONEBUDGET_DATA_DIR=/home/onebudget/data \
    ONEBUDGET_TLS_TERMINATED_UPSTREAM=true \
    ONEBUDGET_DOCS=false \
    ONEBUDGET_GRAPHQL_IDE=false
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["onebudget", "serve"]
