"""An application that uses Redis and PostgreSQL per request: `python -m tests.e2e.db_app PORT DB_HOST`.

GET /redis sets and reads a key (redis-py), GET /pg runs a parameterised query (psycopg), each on
a new connection, as a request handler without a pool does; the answer is JSON.
"""

from __future__ import annotations

import json
import sys

import psycopg
import redis

from tests.e2e.apps import Back, DualStackServer


class DbApp(Back):
    db_host = ""

    def do_GET(self) -> None:
        if self.path == "/redis":
            client = redis.Redis(host=self.db_host, port=6379, db=1, protocol=2)
            client.set("order:7", "paid")
            result: object = client.get("order:7").decode()  # type: ignore[union-attr]
            client.close()
        else:
            with psycopg.connect(host=self.db_host, port=5432, user="postgres", dbname="postgres") as db:
                result = db.execute("SELECT %s::int * 2 AS doubled, 'secret'", (21,)).fetchone()
        self.reply(200, json.dumps({"result": result}).encode())


def main() -> None:
    DbApp.db_host = sys.argv[2]
    server = DualStackServer(("::", int(sys.argv[1])), DbApp)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
