SET LOCAL statement_timeout = '10000ms'
