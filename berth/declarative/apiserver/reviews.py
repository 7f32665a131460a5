"""Create-only review kinds: answered from the request's user, never stored.

`REVIEWS` maps a plural to its handler `(api, call, user, body) -> dict | Problem`; `app.dispatch` sends a POST to
such a collection here (and answers 405 to any other method).  SelfSubjectReview makes
`kubectl auth whoami` work.  Callers: app.py.
"""

from __future__ import annotations

from berth.declarative.apiserver import accessreviews
from berth.declarative.apiserver import status as st
from berth.declarative.apiserver.access import User
from berth.declarative.apiserver.gate import USER
from berth.declarative.apiserver.http import Call, respond
from berth.declarative.apiserver.protobuf import decode_review
from berth.declarative.apiserver.status import Problem


def user_info(user: User) -> dict:
    """A User as upstream's authentication/v1 UserInfo."""
    info: dict = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {key: list(values) for key, values in user.extra}
    return info


def self_subject_review(api, call: Call, user: User, body) -> dict | Problem:
    return {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "status": {"userInfo": user_info(user)}}


REVIEWS = {
    "selfsubjectreviews": self_subject_review,
    "selfsubjectaccessreviews": accessreviews.access_review,
    "selfsubjectrulesreviews": accessreviews.rules_review,
}


async def review(api, call: Call):
    """POST to a review collection: decode the body, answer the review with 201."""
    user = call.request.scope.get(USER)
    if not isinstance(user, User):
        return respond(Problem(401, "Unauthorized", "Unauthorized"))
    body = await call.body(decode_review)  # kubectl sends its reviews as protobuf
    if isinstance(body, Problem):
        return respond(body)
    if not isinstance(body, dict):
        return respond(st.bad_request(f"the body must be a JSON object describing a {call.spec.kind}"))
    return respond(REVIEWS[call.spec.plural](api, call, user, body), 201)
