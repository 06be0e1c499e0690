"""Watching registered domains: scheduled checks and their history.

- `snapshot` (pure): what one check saw, as canonical JSON with a digest;
- `changes` (pure): what changed between two snapshots;
- `history` (pure): a domain's timeline of states and changes;
- `schedule` (pure): durations, the watch settings, jittered due times;
- `watcher`: the asyncio scheduler that claims due domains (leases in
  `tlsrpt.store.watch`), runs the checker and stores each result;
- `service`: the watcher in a thread of its own, for `tlsrpt serve`.
"""
