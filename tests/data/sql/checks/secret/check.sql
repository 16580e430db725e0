SELECT count(*) FROM pg_authid
