"""The embedding contract: one embedding model family and dimension per deployment.

``matches`` compares candidate vectors with job vectors, which only means something when both
sides were embedded by the same model into the same space. So the model is not a team's choice
alone: it is set once per deployment (``TALENT_EMBEDDING_PROVIDER``/``_MODEL``/``_DIM``, the same
values in every release), a location may only *name* it in its pipeline declaration (and fails to
load when the name disagrees), and ``matches`` refuses to compare vectors stored with another
model. What a team owns is what it embeds (its text and its embed logic version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

    from talent_shared.settings import Settings


class EmbeddingContractError(RuntimeError):
    """Vectors or a declaration that do not belong to the deployment's embedding space."""


@dataclass(frozen=True)
class EmbeddingContract:
    provider: str
    model: str
    dim: int

    @classmethod
    def deployed(cls, settings: Settings | None = None) -> EmbeddingContract:
        from talent_shared.providers.factory import embedding_model_name
        from talent_shared.settings import get_settings

        settings = settings or get_settings()
        return cls(settings.embedding_provider, embedding_model_name(settings), settings.embedding_dim)

    @property
    def code_version(self) -> str:
        return f"{self.provider}:{self.model}:{self.dim}"

    def check_declared(self, location: str, model: str | None, dim: int | None) -> None:
        """A location's declared model and dimension (either may be left out) against the contract."""
        if (model is None or model == self.model) and (dim is None or dim == self.dim):
            return
        raise EmbeddingContractError(
            f"the {location} pipeline declares embedding model {model or self.model!r} ({dim or self.dim}-d), but"
            f" this deployment's embedding contract is {self.model!r} ({self.dim}-d, TALENT_EMBEDDING_PROVIDER/"
            f"MODEL/DIM). A model is changed for every location together (same values in every release), never"
            f" by one team alone: matches would compare vectors from two different spaces."
        )

    def check_stored(self, conn: psycopg.Connection, table: str) -> None:
        """Refuse a vector table holding rows of another model (e.g. one team re-embedded alone).

        Asked on every matches run: "below or above the contract's model" (``model`` is NOT NULL)
        reads the table's model index (migration 0012) only where rows differ, not every row."""
        rows = conn.execute(
            f"SELECT model, count(*) FROM talent.{table} WHERE model < %(model)s OR model > %(model)s"
            " GROUP BY model ORDER BY 2 DESC",
            {"model": self.model},
        ).fetchall()
        if rows:
            found = ", ".join(f"{n} with {m!r}" for m, n in rows)
            raise EmbeddingContractError(
                f"talent.{table} holds vectors of another model ({found}); matches compares only vectors of"
                f" {self.model!r} ({self.dim}-d), this deployment's embedding contract. Re-embed those records"
                f" with the contract's model (their vectors asset re-runs when its code version changes), or"
                f" change the contract for every location together."
            )
