"""Every ORM model, imported in one place so Alembic and tests see the whole schema."""

from gatekeeper.canary import models as canary_models  # noqa: F401
from gatekeeper.db import Base
from gatekeeper.drift import models as drift_models  # noqa: F401
from gatekeeper.evaluation import models as evaluation_models  # noqa: F401
from gatekeeper.idempotency import models as idempotency_models  # noqa: F401
from gatekeeper.jobs import models as job_models  # noqa: F401
from gatekeeper.notify import models as notify_models  # noqa: F401
from gatekeeper.promotion import models as promotion_models  # noqa: F401
from gatekeeper.registry import models as registry_models  # noqa: F401

metadata = Base.metadata
