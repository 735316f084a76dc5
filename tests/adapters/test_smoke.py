import pytest
from adapters.sync import sync_agency

async def test_smoke(world, sync_settings, agencies):
    for kind in ("council", "housing"):
        outcome = await sync_agency(world.sessionmaker, sync_settings, agency_id=world.agencies[kind])
        print(kind, outcome)
        print(await world.allocations(kind))
        print(await agencies[kind].awards())
