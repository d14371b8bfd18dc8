"""Print runs: AEOs and managers only; everyone else signed in is refused (403), whatever their school."""
from sqlmodel import select

from casework.models import PrintRun, User

from .core import answers

ROUTES = {
    "/letters": answers(302, 403, 200, 200, 403, 403, 403),
    "/letters/runs/{run_id}": answers(302, 403, 200, 200, 403, 403, 403),
    "/letters/runs/{run_id}/pdf": answers(302, 403, 200, 200, 403, 403, 403),
}
POST_ONLY = {"/letters/runs", "/letters/runs/{run_id}/posted"}


def params(session, world) -> dict:
    """A built print run of the world's letters (made once per database)."""
    from casework.letters import runs

    run_id = session.exec(select(PrintRun.id).where(PrintRun.status == "ready")).first()
    if run_id is None:
        officer = session.exec(select(User.email).where(User.email == world.aeo)).one()
        run = runs.create_run(session, officer)
        runs.assemble(session, run)
        run_id = run.id
    return {"run_id": run_id}
