/* test-cli-options.c - a command's own option table (cmd.h): one table that the parser fills a
 * struct from and that the usage line and the options part of the help are made from. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli/cmd.h"

#include <stdio.h>

struct args {
        const char *size;
        bool fast, slow, json;
};

#define F(f) .offset = offsetof(struct args, f)
static const struct cli_option options[] = {
    {"size", 's', CLI_OPT_VALUE, F(size), .arg = "N", .help = "how big"},
    {"fast", 0, CLI_OPT_FLAG, F(fast), .group = 1, .help = "quickly"},
    {"quick", 0, CLI_OPT_FLAG, F(fast)},
    {"slow", 0, CLI_OPT_FLAG, F(slow), .group = 1, .help = "carefully"},
    {"length", 0, CLI_OPT_VALUE, F(size), .arg = "N"},
    {"json", 0, CLI_OPT_FLAG, F(json), .help = "as JSON"},
    {"--", 0, CLI_OPT_REST, .arg = "CMD...", .help = "what to run"},
    {NULL, 0, CLI_OPT_FLAG, NULL, NULL},
};
#undef F

static int run(const struct cli_command *cmd, int argc, char **argv)
{
        (void)cmd, (void)argc, (void)argv;
        return 0;
}

static const struct cli_command command = {"thing-do",
                                           run,
                                           "NAME",
                                           "Do a thing",
                                           "Does the thing.\n",
                                           .options = options,
                                           .examples = "  thing-do x --fast\n"};

static void test_usage_and_help(void **state)
{
        (void)state;
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        assert_non_null(f);
        cli_print_help(&command, f);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(
            text, "Usage: thing-do NAME [--size N] [--fast | --slow] [--json] [-- CMD...]\n"
                  "\n"
                  "Do a thing.\n"
                  "\n"
                  "Does the thing.\n"
                  "\n"
                  "Options:\n"
                  "  --size N           how big; also --length N\n"
                  "  --fast             quickly; also --quick\n"
                  "  --slow             carefully\n"
                  "  --json             as JSON\n"
                  "  -- CMD...          what to run\n"
                  "\n"
                  "Examples:\n"
                  "  thing-do x --fast\n");
        free(text);
}

static void test_parse_into_struct(void **state)
{
        (void)state;
        char *argv[] = {"thing-do", "x", "--quick", "--length=3", "--json", "--", "ls", NULL};
        struct args a = {0};
        struct cli_args rest = {0};
        assert_int_equal(cli_parse_args(&command, 7, argv, &a, &rest), CLI_CONTINUE);
        assert_string_equal(a.size, "3");
        assert_true(a.fast);
        assert_false(a.slow);
        assert_true(a.json);
        assert_int_equal(rest.n_pos, 1);
        assert_string_equal(rest.pos[0], "x");
        assert_int_equal(rest.n_rest, 1);
        assert_string_equal(rest.rest[0], "ls");
        cli_args_release(&rest);

        char *argv2[] = {"thing-do", "-s5", "x", NULL};
        struct args b = {0};
        assert_int_equal(cli_parse_args(&command, 3, argv2, &b, &rest), CLI_CONTINUE);
        assert_string_equal(b.size, "5");
        cli_args_release(&rest);
}

/* "--" is not an option of its own: "----" is unknown, as before the table named it. */
static void test_rest_row_is_no_option(void **state)
{
        (void)state;
        char *argv[] = {"thing-do", "x", "----", NULL};
        struct args a = {0};
        struct cli_args rest = {0};
        FILE *saved = stderr;
        stderr = fopen("/dev/null", "w");
        int r = cli_parse_args(&command, 3, argv, &a, &rest);
        fclose(stderr);
        stderr = saved;
        assert_int_equal(r, CLI_EXIT_USAGE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_usage_and_help),
            cmocka_unit_test(test_parse_into_struct),
            cmocka_unit_test(test_rest_row_is_no_option),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
