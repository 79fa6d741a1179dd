/*
 * netspec-fuzzer.c - the egress spec: classification of the raw input,
 * then validation and expansion of the input parsed as a network object.
 *
 * Validation and expansion must agree, a refusal must carry a message,
 * and every effective network must format and contain its own address.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok = NULL;
	struct json_object *o = NULL;
	struct policy *p = NULL;
	struct policy_net n;
	char text[POLICY_NET_STRLEN], *cause = NULL;
	size_t i;
	int v, b, unspec;

	if (policy_classify((const char *)data, size, &n, &unspec) !=
	    POLICY_DOMAIN &&
	    (policy_net_format(&n, text, sizeof(text)) != 0 ||
	    !policy_net_contains(&n, n.family, n.addr)))
		abort();
	if (size > 65536 || (tok = json_tokener_new()) == NULL)
		goto out;
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	if (o == NULL)
		goto out;
	v = policy_validate(o, &cause);
	if ((v != 0) != (cause != NULL))
		abort();
	free(cause);
	cause = NULL;
	b = policy_build(o, "192.0.2.53", &p, &cause);
	if (b != v || (b == 0) != (p != NULL))
		abort();
	for (i = 0; p != NULL && i < p->nallow + p->ndeny; i++) {
		const struct policy_net *e = i < p->nallow ? &p->allow[i] :
		    &p->deny[i - p->nallow];
		if (policy_net_format(e, text, sizeof(text)) != 0 ||
		    !policy_net_contains(e, e->family, e->addr))
			abort();
	}
	for (i = 0; p != NULL && i < p->ndomains; i++)
		if (strlen(p->domains[i].key) > POLICY_MAX_DOMAIN)
			abort();
out:
	policy_free(p);
	free(cause);
	json_object_put(o);
	if (tok != NULL)
		json_tokener_free(tok);
	return 0;
}
