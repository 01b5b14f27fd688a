"""The demo district's area tree: 天山区 (650199), its streets, communities, grids and micro-grids,
with grid workers and household figures.

Level by level, flushing each before its children: the area hook (app/core/area_tree.py) derives a
child's path from its parent's, which a new parent only has once flushed.
"""
from sqlalchemy import select

from models import Area

DISTRICT_CODE = "650199"
DISTRICT_NAME = "天山区"


def build_areas(ctx):
    """Build the tree (at least two streets: community1 and community2 sit in different ones) and
    keep it in ``ctx`` as plain data."""
    n_streets = max(2, ctx.count(4))
    n_communities = max(n_streets, ctx.count(12))
    district = Area(level="district", code=DISTRICT_CODE, name=DISTRICT_NAME, note="演示数据（虚构）")
    ctx.session.add(district)
    ctx.session.flush()
    streets = [Area(level="street", code=f"{DISTRICT_CODE}{s + 1:03d}", parent=district,
                    name=ctx.unique(ctx.fake.street_name)) for s in range(n_streets)]
    ctx.session.add_all(streets)
    ctx.session.flush()
    communities = []
    for c in range(n_communities):
        street = streets[c % n_streets]
        number = sum(1 for com in communities if com.parent is street) + 1
        communities.append(_build_community_areas(ctx, street, number))
    ctx.session.commit()
    # Plain data from here on: ids and paths survive the batch commits without reloads.
    ctx.district_id = district.id
    ctx.street_ids = [s.id for s in streets]
    ctx.communities = [_community_data(ctx, community) for community in communities]


def _build_community_areas(ctx, street, number):
    """One community with its 8–12 grids, some of them split into micro-grids."""
    rng = ctx.rng
    grid_figures = [(rng.randint(8, 18), rng.randint(2, 6)) for _ in range(rng.randint(8, 12))]
    community = Area(level="community", code=f"{street.code}{number:03d}", parent=street,
                     name=ctx.unique(ctx.fake.community_name),
                     household_heads=sum(h for h, _ in grid_figures),
                     central_households=sum(c for _, c in grid_figures))
    ctx.session.add(community)
    ctx.session.flush()
    grids = []
    for g, (heads, central) in enumerate(grid_figures):
        grids.append(Area(level="grid", code=f"{community.code}{g + 1:03d}", parent=community,
                          name=f"{community.name}{ctx.fake.grid_name(g + 1)}", grid_worker=ctx.person(),
                          grid_worker_phone=ctx.mobile(), household_heads=heads,
                          central_households=central))
    ctx.session.add_all(grids)
    ctx.session.flush()
    for grid in grids:
        if rng.random() < 0.25:  # some large grids are split into micro-grids (微网格)
            _build_microgrids(ctx, grid)
    ctx.session.flush()
    return community


def _build_microgrids(ctx, grid):
    rng = ctx.rng
    for m in range(rng.randint(2, 4)):
        building = rng.randint(1, 40)
        ctx.session.add(Area(
            level="microgrid", code=f"{grid.code}{m + 1:02d}", parent=grid,
            name=f"{grid.name}{building}号楼微网格", grid_worker=ctx.person(),
            grid_worker_phone=ctx.mobile(), household_heads=rng.randint(1, 4),
            central_households=rng.randint(0, 2)))


def _community_data(ctx, community):
    rows = ctx.session.execute(
        select(Area.id, Area.level).where(Area.path.startswith(community.path)).where(Area.id != community.id)
        .order_by(Area.id)
    ).all()
    return {
        "id": community.id,
        "name": community.name,
        "street_id": community.parent_id,
        "grids": [r.id for r in rows if r.level == "grid"],
        "homes": [r.id for r in rows],  # where members live: grids and micro-grids
    }
