from tests.graphql.client import as_partner
from tests.partners import PartnerFactory
from tests.world import make_world


async def test_budget(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    answer = await as_partner(
        world.council,
        """query($id: ID!) { viewer { clientId scopes agency { id name kind } }
        budget(id: $id) { id currency deployment totals { allocated available }
          person { name } leadAgency { name }
          streams { available stream { id name kind agency { name } rules { categories } } }
          spends(first: 2) { edges { cursor node { id } } pageInfo { hasNextPage } } } }""",
        id=world.budget_id,
    )
    print(answer.body)
