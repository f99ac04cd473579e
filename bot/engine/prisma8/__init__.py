"""Prisma 8: its project on disk (config, contract, migration graph), its state in the database
(``prisma_contract``: marker, ledger, contracts), and what its own commands would say about them.

Observed with the real ``prisma@8.0.0-rc.19`` CLI (../shared/notes/prisma-facts.md, "Prisma 8").
Nothing here runs Node: the files are JSON, the hashes are plain SHA-256.
"""
