"""Every way reports arrive, side by side; each ends in `ingest()`.

- `http`: the HTTP receiver, `POST /v1/reports` (RFC 8460 §5.4), an ASGI
  route the web app mounts (`inflight`: the request bodies it holds);
- `smtp`: the SMTP receiver for `rua=mailto:` (RFC 8460 §5.3);
- `imap`: the IMAP poller of a mailbox;
- `pipe`: one message handed over by an MTA (`tlsrpt ingest-mail`);
- `files`: report files, e-mail files, mbox files and Maildir folders
  (`tlsrpt import`);
- `dkim_verify`: the DKIM verdict every mail receiver applies (RFC 8460 §3);
- `settings`: each receiver's settings section (`[receive.*]`).
"""
