"""Which adapter speaks to which kind of agency system, and building one for a connection."""

from collections.abc import Callable

from adapters.base import AdapterConfig, AgencyAdapter, Credentials
from adapters.council import CouncilAdapter
from adapters.employment import EmploymentAdapter
from adapters.equipment import EquipmentAdapter
from adapters.health import HealthAdapter
from adapters.housing import HousingAdapter
from adapters.http import CallPolicy
from service.config import Settings
from service.syncs.credentials import connection_credentials
from service.syncs.models import AgencyConnection

ADAPTERS: dict[str, Callable[[AdapterConfig], AgencyAdapter]] = {
    CouncilAdapter.kind: CouncilAdapter,
    HousingAdapter.kind: HousingAdapter,
    EmploymentAdapter.kind: EmploymentAdapter,
    EquipmentAdapter.kind: EquipmentAdapter,
    HealthAdapter.kind: HealthAdapter,
}


def call_policy(settings: Settings) -> CallPolicy:
    """Timeouts and retries for calls to agencies, from the settings."""
    return CallPolicy(
        timeout_seconds=settings.agency_timeout_seconds,
        attempts=settings.agency_retry_attempts,
        total_seconds=settings.agency_retry_total_seconds,
        wait_initial=settings.agency_retry_wait_initial_seconds,
        wait_max=settings.agency_retry_wait_max_seconds,
    )


def make_adapter(connection: AgencyConnection, settings: Settings) -> AgencyAdapter:
    """The adapter for a connection, with its credentials read now (never kept elsewhere)."""
    values = connection_credentials(
        credentials_file=connection.credentials_file,
        agency_id=connection.agency_id,
        settings_file=settings.agency_credentials_file,
    )
    config = AdapterConfig(
        url=connection.url,
        credentials=Credentials(values),
        policy=call_policy(settings),
        page_size=settings.agency_page_size,
    )
    return ADAPTERS[connection.adapter](config)
