"""The HTTP service: a FastAPI app over a :class:`~kgrec.serving.Recommender`, one router per area.

==========================================  =====================================================
``GET  /v1/users/{id}/recommendations``     top-k (``k`` 1..max_k, ``explain``, ``diversity``,
                                            ``exclude_seen``, ``filter=Label:value`` repeated;
                                            intent: ``query``, ``session``, ``fusion``, ``fusion_weight``)
``POST /v1/users/{id}/recommendations``     the same with a JSON body (:mod:`.intent`)
``GET|POST /v1/recommendations``            an anonymous visitor's list: a query and/or a session
``POST /v1/users/{id}/feedback/text``       a sentence of feedback → PREFERS / AVOIDS (token)
``GET  /v1/users/{id}/preferences``         the user's text preferences
``DELETE /v1/users/{id}/feedback/text``     undo text feedback (token)
``GET  /v1/users/{id}/explain/{item}``      explanation paths (``max_paths``)
``GET  /v1/users/{id}/fidelity``            how much each explanation's path weighs in its item's
                                            score (``k``, ``max_paths``; :mod:`.fidelity`)
``GET  /v1/items/{id}/similar``             similar items (``k``)
``POST /v1/feedback``                       an interaction (token)
``POST /v1/items``                          a new item from text and KG links (token)
``DELETE /v1/users/{id}``                   forget a user everywhere (token)
``POST /v1/query``                          an analyst's read-only Cypher query (token; time-limited)
``GET  /healthz``                           liveness, store status, sizes (within a second)
``GET  /docs``, ``/openapi.json``           the OpenAPI documentation (assets served locally)
``GET  /ui``                                the explanation page
==========================================  =====================================================

Modules: :mod:`.app` (the factory), :mod:`.recommendations`, :mod:`.intent`, :mod:`.items`, :mod:`.users`,
:mod:`.queries` (+ :mod:`.analyst`), :mod:`.health`, :mod:`.ui`, :mod:`.fidelity`, :mod:`.events` (the routers), :mod:`.models`
(bodies), :mod:`.errors`, :mod:`.limits`, :mod:`.keeper`, :mod:`.deps`, :mod:`.server`.

Write endpoints and the query endpoint need ``Authorization: Bearer <token>``, the token of the
:class:`~kgrec.serving.ServeConfig` (``kgrec serve`` reads it from ``KGREC_API_TOKEN``), compared in
constant time; without one, those endpoints refuse every call. Errors are JSON
``{"detail": message}``: 401 (token), 403 (a write or a forbidden clause in an analyst query),
404 (unknown user or item), 413 (a body over ``max_body_bytes``), 422 (bad body or parameter, JSON
nested deeper than ``max_json_depth``), 400 (a query the store rejects), 503 (store down, or too
many analyst queries), 504 (an analyst query past its time limit).

Reliability:

- **Durability.** Feedback is acknowledged only after the store has it: the write returns once
  the store replied, and the embedded store is asked to fsync its append-only file before each
  reply (``feedback_fsync``: see :mod:`.keeper` for what changing it means for other processes).
- **Faults.** While the store is down, the endpoints that need it answer 503 with a message that
  says so; recommendations, similar items and explanations are served from memory meanwhile. An
  embedded store is restarted by the service in the background (it replays its AOF).
- **Analyst queries** run on a second connection, a bounded number at once, and are answered by
  their deadline (:mod:`.analyst`); no recommender lock is held while anything waits on the store.
- **Limits.** Bodies over ``max_body_bytes`` get 413 before they are parsed; every JSON body
  nested deeper than ``max_json_depth`` gets 422, whatever the case of its media type (:mod:`.limits`).

The server binds 127.0.0.1 unless told otherwise.
"""

from .app import ROUTERS, create_app
from .keeper import StoreKeeper
from .limits import MAX_BODY_BYTES, MAX_JSON_DEPTH, BodyLimit, json_depth
from .server import BackgroundServer, serve

__all__ = ["MAX_BODY_BYTES", "MAX_JSON_DEPTH", "ROUTERS", "BackgroundServer", "BodyLimit", "StoreKeeper", "create_app",
           "json_depth", "serve"]
