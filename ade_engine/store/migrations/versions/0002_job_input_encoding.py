"""Jobs remember the text encoding asked for their input (`ade job submit --encoding`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: existing jobs asked for no encoding (detected), which NULL says.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("input_encoding", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("input_encoding")
