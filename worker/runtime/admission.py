"""One execution's dealings with the governor: admit, pace, learn — or park.

The policy opens an :class:`Admission` per execution. :meth:`Admission.first`
admits the first provider call; a run that takes several (a sync reading
page after page) calls :func:`worker.runtime.context.pace` before each further
one, which learns from the last response and asks again. Whenever the
governor says "not now", :class:`ParkRequest` unwinds to the policy, which
parks the run: not a failure, not an attempt, no worker sleeping.

Over budget, a call's tokens are reserved for a later slot and the run
parks until then carrying the reservation (``fleet_reserved``, a unix time);
back on time it only checks that no scope closed and the circuit did not
open meanwhile. A reservation older than the grace (the run waited for
something else since) is not honoured.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from worker.errors import ToolError
from worker.ledger import Begun
from worker.runtime import governor
from worker.runtime.catalog import ToolSpec
from worker.runtime.context import CallContext, ParkRequest
from worker.runtime.headers import RESERVED_HEADER, number
from worker.runtime.reconcile import maybe_written

logger = logging.getLogger(__name__)

RESERVATION_GRACE_SECONDS = 30.0
EARLY_SECONDS = 0.005


class Admission:
    """The governor's grants for one execution of ``spec``."""

    def __init__(
        self, spec: ToolSpec, params: Any, run_id: str, begun: Begun, headers: dict[str, Any]
    ) -> None:
        self.spec, self.params, self.run_id = spec, params, run_id
        self.reconciling = maybe_written(begun)
        # Taken out of the headers: a retry after this execution holds no reservation.
        self.slot = number(headers.pop(RESERVED_HEADER, None))
        self.grant: governor.Grant | None = None

    def first(self) -> None:
        """Admit the execution's first call, or raise :class:`ParkRequest`."""
        early = self.slot - time.time()
        if early > EARLY_SECONDS:  # back before its slot: wait the rest, keep the slot
            raise ParkRequest(early, "before its slot", {RESERVED_HEADER: self.slot})
        reserved = time.time() - self.slot < RESERVATION_GRACE_SECONDS
        self._admit(reserved=reserved, reconciling=self.reconciling)

    def pace(self, client: Any, call: CallContext) -> None:
        """Before a further call of the same run: learn from the last one, ask again."""
        self.learn(client, call, None)
        self._admit(reserved=False, reconciling=False)

    def learn(self, client: Any, call: CallContext, error: ToolError | None) -> None:
        """Tell the governor what the last call's response said. Feedback only: a
        failure here is logged and never changes the call's own outcome (a write that
        was made must not become a dead letter, and so be replayed, for it)."""
        try:
            rate_headers = self.spec.provider.rate_headers
            if client is not None and rate_headers is not None:
                call.response_headers.update(rate_headers(client))
            governor.learn(self.grant, error, call.response_headers)
        except Exception:
            logger.exception("%s[%s]: the governor could not learn", self.spec.name, self.run_id)
        finally:
            call.response_headers.clear()

    def still_unchecked(self, call: CallContext) -> bool:
        """Whether an earlier write may have happened and this attempt did not finish
        looking for it (the lookup itself failed): the next attempt must look again."""
        return self.reconciling and not call.lookup_done

    def _admit(self, *, reserved: bool, reconciling: bool) -> None:
        grant = governor.admit(
            self.spec, self.params, self.run_id, reconciling=reconciling, reserved=reserved
        )
        self.grant = grant
        if grant is None or grant.admitted:
            return
        logger.debug(
            "%s[%s] parks %.2fs: %s", self.spec.name, self.run_id, grant.wait, grant.reason
        )
        keep = {RESERVED_HEADER: time.time() + grant.wait} if grant.reserved else {}
        raise ParkRequest(grant.wait, grant.reason, keep)
