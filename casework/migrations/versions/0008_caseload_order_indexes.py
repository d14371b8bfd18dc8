"""indexes for the caseload in its order (newest first): (opened_on, ref) for every open case, and
(officer_id, opened_on, ref) for an officer's, so a page is read from the index instead of sorting every case

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 01:30:00
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_case_opened_order', 'case', ['opened_on', 'ref'])
    op.create_index('ix_case_officer_opened_order', 'case', ['officer_id', 'opened_on', 'ref'])


def downgrade() -> None:
    op.drop_index('ix_case_officer_opened_order', table_name='case')
    op.drop_index('ix_case_opened_order', table_name='case')
