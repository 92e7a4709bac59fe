/* test_cidr - network lists: parse got/want, and which addresses match. */
#include "check.h"
#include "lib/cidr.h"

static const struct {
    const char *text;
    int ok;
    size_t count;
} parse_cases[] = {
    {"", 1, 0},
    {"127.0.0.1", 1, 1},
    {"127.0.0.0/8, 10.1.0.0/16 ::1", 1, 3},
    {"2001:db8::/32,192.0.2.0/24", 1, 2},
    {"0.0.0.0/0", 1, 1},
    {"127.0.0.1/33", 0, 0},
    {"::1/129", 0, 0},
    {"127.0.0.1/", 0, 0},
    {"127.0.0.1/-1", 0, 0},
    {"127.0.0.1/8x", 0, 0},
    {"localhost", 0, 0},
    {"010.0.0.1", 0, 0},
    {"1.2.3", 0, 0},
    {"/8", 0, 0},
};

static const struct {
    const char *list;
    const char *ip;
    int want;
} match_cases[] = {
    {"127.0.0.0/8", "127.0.0.33", 1},
    {"127.0.0.0/8", "128.0.0.1", 0},
    {"127.0.0.33", "127.0.0.33", 1},
    {"127.0.0.33", "127.0.0.34", 0},
    {"10.0.0.0/9", "10.127.255.255", 1},
    {"10.0.0.0/9", "10.128.0.0", 0},
    {"10.1.2.3/8", "10.200.0.1", 1},  /* host bits of the network are ignored */
    {"0.0.0.0/0", "203.0.113.9", 1},
    {"0.0.0.0/0", "::1", 0},
    {"::1", "::1", 1},
    {"2001:db8::/32", "2001:db8:ffff::1", 1},
    {"2001:db8::/32", "2001:db9::1", 0},
    {"192.0.2.0/24", "::ffff:192.0.2.7", 1},  /* mapped IPv4 */
    {"", "127.0.0.1", 0},
    {"127.0.0.1", "unknown", 0},
    {"127.0.0.1", "", 0},
};

/* main - run both tables */
int main(void)
{
    char err[200];
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        cidr_list l;
        int rc = cidr_list_parse(parse_cases[i].text, &l, err, sizeof err);
        CHECK((rc == 0) == parse_cases[i].ok, "parse '%s': rc %d", parse_cases[i].text, rc);
        if (rc == 0)
            CHECK(l.count == parse_cases[i].count, "parse '%s': count %zu", parse_cases[i].text, l.count);
    }
    for (size_t i = 0; i < sizeof match_cases / sizeof match_cases[0]; i++) {
        cidr_list l;
        CHECK(cidr_list_parse(match_cases[i].list, &l, err, sizeof err) == 0, "list '%s'", match_cases[i].list);
        CHECK(cidr_list_match(&l, match_cases[i].ip) == match_cases[i].want, "'%s' in '%s'",
              match_cases[i].ip, match_cases[i].list);
    }
    char big[64 * 12 + 32] = "";
    size_t off = 0;
    for (int i = 0; i < CIDR_LIST_MAX + 1; i++)
        off += (size_t)snprintf(big + off, sizeof big - off, "10.0.0.%d ", i);
    cidr_list l;
    CHECK(cidr_list_parse(big, &l, err, sizeof err) < 0, "more than CIDR_LIST_MAX entries refused");
    return check_summary();
}
