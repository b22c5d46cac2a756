/* A shared library that is not a pgDog plugin: it lacks pgdog_route_query. */
int pgdog_route_something_else(void) { return 0; }
