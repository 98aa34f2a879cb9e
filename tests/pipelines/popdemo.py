"""A small pipeline for worker-process tests.

Configured entirely from the environment, as a worker on a cluster node would be:
DJ_BACKEND/DJ_HOST/DJ_PORT/DJ_USER/DJ_PASS or DJ_SQLITE_PATH choose the database,
POPDEMO_SCHEMA names the schema, POPDEMO_SIDEFILE is where every make() appends
its key, POPDEMO_SLOW_KEY (an item id) makes that key's make() write
POPDEMO_MARKER and sleep, so a test can kill the worker in the middle of it.
"""

from __future__ import annotations

import os
import time

import dj_jupyter as dj

schema = dj.Schema(os.environ["POPDEMO_SCHEMA"])


@schema
class Item(dj.Manual):
    definition = """
    item_id : int32
    ---
    value : float64
    """


@schema
class Square(dj.Computed):
    definition = """
    -> Item
    ---
    square : float64
    """

    def make(self, key):
        value = (Item & key).fetch1("value")
        slow = os.environ.get("POPDEMO_SLOW_KEY")
        if slow is not None and int(slow) == key["item_id"]:
            with open(os.environ["POPDEMO_MARKER"], "w") as marker:
                marker.write(str(os.getpid()))
            time.sleep(float(os.environ.get("POPDEMO_SLOW_SECONDS", "60")))
        self.insert1(dict(key, square=value * value))
        side_file = os.environ.get("POPDEMO_SIDEFILE")
        if side_file:
            descriptor = os.open(side_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, f"{key['item_id']}\n".encode())
                os.fsync(descriptor)
            finally:
                os.close(descriptor)


@schema
class Cube(dj.Computed):
    definition = """
    -> Square
    ---
    cube : float64
    """

    def make(self, key):
        square = (Square & key).fetch1("square")
        value = (Item & key).fetch1("value")
        self.insert1(dict(key, cube=square * value))
