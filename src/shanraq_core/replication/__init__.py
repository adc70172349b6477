"""High availability: the journal shipped to PostgreSQL, a hot standby, leader
election and fencing through etcd (docs/operations.md).

Needs the ``ha`` extra (psycopg 3, urllib3).
"""

from shanraq_core.replication.election import Election, leader_key
from shanraq_core.replication.errors import (
    AuthenticationError,
    ContinuityError,
    EtcdError,
    EtcdUnavailableError,
    FencedError,
    ForeignStreamError,
    NotLeaderError,
    ReplicationError,
    SchemaMismatchError,
    ServerUnreachableError,
    StaleEpochError,
)
from shanraq_core.replication.etcd import EtcdClient
from shanraq_core.replication.node import Health, Node, NodeConfig
from shanraq_core.replication.records import Batch, BatchSource, StampedRingSource, TailSource, seal
from shanraq_core.replication.shipper import Shipper
from shanraq_core.replication.snapshots import load_snapshot, save_snapshot
from shanraq_core.replication.standby import Lag, Standby, replay

__all__ = [
    "AuthenticationError",
    "Batch",
    "BatchSource",
    "ContinuityError",
    "Election",
    "EtcdClient",
    "EtcdError",
    "EtcdUnavailableError",
    "FencedError",
    "ForeignStreamError",
    "Health",
    "Lag",
    "Node",
    "NodeConfig",
    "NotLeaderError",
    "ReplicationError",
    "SchemaMismatchError",
    "ServerUnreachableError",
    "Shipper",
    "StaleEpochError",
    "StampedRingSource",
    "Standby",
    "TailSource",
    "leader_key",
    "load_snapshot",
    "replay",
    "save_snapshot",
    "seal",
]
