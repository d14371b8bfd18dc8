"""user.must_change_password: set when an admin creates a user or resets a password (which the admin has seen);
the user must choose their own before doing anything else

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 22:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user') as batch:
        batch.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('user') as batch:
        batch.drop_column('must_change_password')
