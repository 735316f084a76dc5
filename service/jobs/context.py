"""What every job gets from the worker running it."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.config import Settings


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """The worker's database sessions and settings, shared by its jobs."""

    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
