"""The whole system composed on one machine: demo, building simulation, local-site harness (broker runner,
fault-injecting proxy, throwaway PostgreSQL). It may import everything; nothing in the product imports it."""
