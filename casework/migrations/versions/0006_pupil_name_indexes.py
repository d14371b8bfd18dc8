"""indexes for finding pupils by name: lower(surname) and lower(forename) for case-insensitive prefix search, and
(surname, forename, id) for the list in name order

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 22:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_pupil_surname_lower', 'pupil', [sa.text('lower(surname)')])
    op.create_index('ix_pupil_forename_lower', 'pupil', [sa.text('lower(forename)')])
    op.create_index('ix_pupil_name_order', 'pupil', ['surname', 'forename', 'id'])


def downgrade() -> None:
    op.drop_index('ix_pupil_name_order', table_name='pupil')
    op.drop_index('ix_pupil_forename_lower', table_name='pupil')
    op.drop_index('ix_pupil_surname_lower', table_name='pupil')
