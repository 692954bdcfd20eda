/* test-network.c - per-user network names and the choice of a free subnet in the pool. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/containers/network.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

static void test_names(void **state)
{
        (void)state;
        _cleanup_free_ char *c = network_name("ds01", 1000, NETWORK_CONTAINERS);
        _cleanup_free_ char *b = network_name("ds01", 1000, NETWORK_BUILDS);
        assert_string_equal(c, "ds01-u1000");
        assert_string_equal(b, "ds01-u1000-build");
}

static void test_free_subnet(void **state)
{
        (void)state;
        uint32_t got = 0;
        /* An empty pool hands out its first subnet. */
        assert_int_equal(network_free_subnet(IP(10, 213, 0, 0), 16, 26, NULL, 0, &got), 0);
        assert_int_equal(got, IP(10, 213, 0, 0));

        /* Taken subnets, of any size and alignment, are skipped. */
        const uint32_t used[][2] = {
            {IP(10, 213, 0, 0), 26}, {IP(10, 213, 0, 64), 28}, {IP(172, 17, 0, 0), 16}};
        assert_int_equal(network_free_subnet(IP(10, 213, 0, 0), 16, 26, used, 3, &got), 0);
        assert_int_equal(got, IP(10, 213, 0, 128));

        /* A larger network over the whole pool leaves nothing. */
        const uint32_t all[][2] = {{IP(10, 0, 0, 0), 8}};
        assert_int_equal(network_free_subnet(IP(10, 213, 0, 0), 16, 26, all, 1, &got), -1);

        /* A full pool. */
        const uint32_t one[][2] = {{IP(192, 168, 5, 0), 24}};
        assert_int_equal(network_free_subnet(IP(192, 168, 5, 0), 24, 24, one, 1, &got), -1);
        assert_int_equal(network_free_subnet(IP(192, 168, 5, 0), 24, 25, one, 1, &got), -1);

        /* The last subnet of a pool at the top of the address space does not wrap. */
        const uint32_t low[][2] = {{IP(255, 255, 255, 0), 25}};
        assert_int_equal(network_free_subnet(IP(255, 255, 255, 0), 24, 25, low, 1, &got), 0);
        assert_int_equal(got, IP(255, 255, 255, 128));

        /* A subnet prefix wider than the pool is refused. */
        assert_int_equal(network_free_subnet(IP(10, 213, 0, 0), 16, 8, NULL, 0, &got), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_names),
            cmocka_unit_test(test_free_subnet),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
