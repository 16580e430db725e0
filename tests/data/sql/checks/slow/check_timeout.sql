SET LOCAL statement_timeout = '200ms'
