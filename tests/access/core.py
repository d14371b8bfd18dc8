"""Sign-in, the worklist, the caseload, the case page, letters and the feed."""
A, ADMIN, AEO, MANAGER, LEGAL, SCHOOL_A, SCHOOL_B = ("anonymous", "admin", "aeo", "manager", "legal", "school_a",
                                                     "school_b")


def answers(anonymous, admin, aeo, manager, legal, school_a, school_b) -> dict[str, int]:
    return {A: anonymous, ADMIN: admin, AEO: aeo, MANAGER: manager, LEGAL: legal, SCHOOL_A: school_a,
            SCHOOL_B: school_b}


ROUTES = {
    "/home": answers(302, 302, 302, 302, 302, 302, 302),
    "/account/password": answers(302, 200, 200, 200, 200, 200, 200),
    "/worklist": answers(302, 403, 200, 200, 200, 200, 200),
    "/cases": answers(302, 403, 200, 200, 200, 200, 200),
    "/cases/{ref}": answers(302, 403, 200, 200, 200, 200, 404),
    "/cases/{ref}/letters/{letter_id}": answers(302, 403, 200, 200, 200, 404, 404),
    "/api/v1/school": answers(401, 401, 401, 401, 401, 401, 401),
}
POST_ONLY = {"/sign-out", "/api/v1/marks", "/api/v1/pupils"}
