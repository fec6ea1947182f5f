"""audit: the file and stdout audit devices (DECISIONS.md#d21).

`middleware` writes every API request's request and response entries and enforces the failure rule;
`entry` builds Vault-shaped entries from the request, the caller and its `Decision`; `devices` appends
whole JSON lines; `hashing` and `key` keep tokens and data out of the log except as HMAC-SHA256 under the
per-server key stored in the database.
"""
