"""penalty notice requests from schools: requests, their pupils, evidence and the notices they led to

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pn_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ref', sa.String(length=20), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('period_end', sa.Date(), nullable=False),
        sa.Column('details', sa.Text(), nullable=False),
        sa.Column('headteacher', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('submitted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('submitted_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('submission_key', sa.String(length=80), nullable=False),
        sa.Column('replaces_id', sa.Integer(), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('decision_reason', sa.Text(), nullable=False),
        sa.CheckConstraint("status IN ('submitted', 'accepted', 'returned', 'refused')", name='ck_pn_request_status'),
        sa.CheckConstraint("reason IN ('holiday', 'late', 'other')", name='ck_pn_request_reason'),
        sa.ForeignKeyConstraint(['school_id'], ['school.id']),
        sa.ForeignKeyConstraint(['replaces_id'], ['pn_request.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ref'),
        sa.UniqueConstraint('submission_key'),
    )
    op.create_index('ix_pn_request_queue', 'pn_request', ['status', 'submitted_at', 'id'], unique=False)
    op.create_index('ix_pn_request_school', 'pn_request', ['school_id', 'submitted_at'], unique=False)

    op.create_table(
        'pn_request_pupil',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('pupil_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('consider_prosecution', sa.Boolean(), nullable=False),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['pn_request.id']),
        sa.ForeignKeyConstraint(['pupil_id'], ['pupil.id']),
        sa.ForeignKeyConstraint(['case_id'], ['case.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('request_id', 'pupil_id', name='uq_pn_request_pupil'),
    )
    op.create_index('ix_pn_request_pupil_request_id', 'pn_request_pupil', ['request_id'], unique=False)
    op.create_index('ix_pn_request_pupil_pupil_id', 'pn_request_pupil', ['pupil_id'], unique=False)

    op.create_table(
        'pn_request_notice',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('penalty_notice_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['pn_request.id']),
        sa.ForeignKeyConstraint(['penalty_notice_id'], ['penalty_notice.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('penalty_notice_id'),
    )
    op.create_index('ix_pn_request_notice_request_id', 'pn_request_notice', ['request_id'], unique=False)

    op.create_table(
        'pn_request_evidence',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('statement', sa.Text(), nullable=False),
        sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('media_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('path', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['pn_request.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_pn_request_evidence_request_id', 'pn_request_evidence', ['request_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_pn_request_evidence_request_id', table_name='pn_request_evidence')
    op.drop_table('pn_request_evidence')
    op.drop_index('ix_pn_request_notice_request_id', table_name='pn_request_notice')
    op.drop_table('pn_request_notice')
    op.drop_index('ix_pn_request_pupil_pupil_id', table_name='pn_request_pupil')
    op.drop_index('ix_pn_request_pupil_request_id', table_name='pn_request_pupil')
    op.drop_table('pn_request_pupil')
    op.drop_index('ix_pn_request_school', table_name='pn_request')
    op.drop_index('ix_pn_request_queue', table_name='pn_request')
    op.drop_table('pn_request')
