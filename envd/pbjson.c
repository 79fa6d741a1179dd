/*
 * pbjson.c - protobuf-c messages to and from proto3 JSON and binary.
 *
 * The JSON side walks protobuf-c descriptors, so any generated message type
 * works without per-message code. Output is written straight into a struct
 * buf, without an intermediate tree, because every RPC response passes
 * through here. Input is parsed by a small strict RFC 8259 parser that fills
 * the message while it reads: that gives protojson's rules exactly (exact
 * number text, duplicate and oneof checks, strict UTF-8) and needs no second
 * pass over a tree.
 *
 * Mapping details follow Go protojson (spec/connect-rpc.md §6); the header
 * lists them. protobuf-c descriptors carry no json_name and no map-entry
 * flag, so JSON names are derived from the proto names the way protoc does,
 * and a map field is recognised by the shape protoc gives its entry message
 * (nested "<Name>Entry" with fields key = 1 and value = 2).
 *
 * Memory: the decoder only ever stores fully decoded values into a message,
 * and allocates them with malloc as protobuf-c's default allocator does, so
 * protobuf_c_message_free_unpacked() releases a message at every point of a
 * failed decode as well as after success. See pbjson_commit() for how empty
 * strings are stored.
 *
 * Not here: Connect framing, compression and error codes (connect.c).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fmt.h"
#include "pbjson.h"
#include "xalloc.h"

#define PBJSON_TIMESTAMP	"google.protobuf.Timestamp"
/* Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define PBJSON_TS_MIN		(-62135596800LL)
#define PBJSON_TS_MAX		253402300799LL
/* Longest token quoted back in an error message. */
#define PBJSON_ERR_TOKEN	64

#define PBJSON_MEMBER(m, off)	((void *)((char *)(m) + (off)))
#define PBJSON_CMEMBER(m, off)	((const void *)((const char *)(m) + (off)))

/* Flags kept per field while one JSON object is decoded. */
#define PBJSON_SEEN	0x01	/* key met (null included) */
#define PBJSON_ONEOF	0x02	/* non-null member of a oneof met */

/* A decoded scalar or sub-message before it is stored in a message. */
union pbjson_val {
	int32_t			 i32;
	uint32_t		 u32;
	int64_t			 i64;
	uint64_t		 u64;
	float			 f32;
	double			 f64;
	protobuf_c_boolean	 b;
	int			 e;
	char			*s;
	ProtobufCBinaryData	 bd;
	ProtobufCMessage	*m;
};

/* JSON parser state for one document. */
struct pbjson_dec {
	const uint8_t	*start;	/* first byte of the document */
	const uint8_t	*p;	/* next byte to read */
	const uint8_t	*end;	/* one past the last byte */
	int		 depth;	/* objects and arrays currently open */
	char		*err;	/* first error message, owned */
};

/* A JSON string token as it appears in the input. */
struct pbjson_str {
	const uint8_t	*raw;	/* bytes between the quotes, borrowed */
	size_t		 len;	/* length of raw */
	int		 esc;	/* raw contains backslash escapes */
};

/* How map keys compare. */
enum pbjson_key {
	PBJSON_KEY_STR,		/* string, bytewise */
	PBJSON_KEY_INT,		/* signed integer */
	PBJSON_KEY_UINT,	/* unsigned integer or bool */
};

/* One map entry while a map is sorted. */
struct pbjson_mapent {
	const ProtobufCMessage	*entry;	/* borrowed map entry */
	size_t			 idx;	/* position in the repeated field */
	const char		*s;	/* PBJSON_KEY_STR key */
	int64_t			 i;	/* PBJSON_KEY_INT key */
	uint64_t		 u;	/* PBJSON_KEY_UINT key */
};

static size_t	pbjson_utf8_len(const uint8_t *, size_t);
static size_t	pbjson_elt_size(ProtobufCType);
static const char *pbjson_kind(ProtobufCType);
static void	pbjson_json_name(const char *, char *, size_t);
static int	pbjson_camel_eq(const char *, const uint8_t *, size_t);
static int	pbjson_is_timestamp(const ProtobufCMessageDescriptor *);
static int	pbjson_is_map(const ProtobufCFieldDescriptor *);
static void	pbjson_ts_fields(const ProtobufCMessageDescriptor *,
		    const ProtobufCFieldDescriptor **,
		    const ProtobufCFieldDescriptor **);
static int64_t	pbjson_days_from_civil(int64_t, int, int);
static void	pbjson_civil_from_days(int64_t, int64_t *, int *, int *);
static int	pbjson_days_in(int64_t, int);
static enum pbjson_key pbjson_key_kind(ProtobufCType);
static void	pbjson_map_sort(const ProtobufCMessageDescriptor *,
		    ProtobufCMessage *const *, size_t, struct pbjson_mapent *);
static int	pbjson_mapent_cmp(const struct pbjson_mapent *,
		    const struct pbjson_mapent *, enum pbjson_key);
static int	pbjson_mapent_cmp_str(const void *, const void *);
static int	pbjson_mapent_cmp_int(const void *, const void *);
static int	pbjson_mapent_cmp_uint(const void *, const void *);

static int	pbjson_enc_name(struct buf *, const char *);
static int	pbjson_enc_int(struct buf *, int64_t, int);
static int	pbjson_enc_uint(struct buf *, uint64_t, int);
static int	pbjson_enc_float(struct buf *, double, int);
static int	pbjson_enc_string(struct buf *, const char *, size_t);
static int	pbjson_enc_base64(struct buf *, const uint8_t *, size_t);
static int	pbjson_enc_timestamp(struct buf *, const ProtobufCMessage *);
static int	pbjson_enc_message(struct buf *, const ProtobufCMessage *);
static int	pbjson_enc_submessage(struct buf *,
		    const ProtobufCFieldDescriptor *, const ProtobufCMessage *);
static int	pbjson_enc_present(const ProtobufCMessage *,
		    const ProtobufCFieldDescriptor *);
static int	pbjson_enc_value(struct buf *, const ProtobufCFieldDescriptor *,
		    const void *);
static int	pbjson_enc_field(struct buf *, const ProtobufCMessage *,
		    const ProtobufCFieldDescriptor *);
static int	pbjson_enc_map(struct buf *, const ProtobufCFieldDescriptor *,
		    ProtobufCMessage *const *, size_t);
static int	pbjson_enc_map_key(struct buf *,
		    const ProtobufCFieldDescriptor *,
		    const struct pbjson_mapent *);
static int	pbjson_enc_proto(const ProtobufCMessage *, struct buf *);

static int	pbjson_dec_error(struct pbjson_dec *, const uint8_t *, int,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static size_t	pbjson_dec_token_len(const struct pbjson_dec *,
		    const uint8_t *);
static int	pbjson_dec_invalid(struct pbjson_dec *,
		    const ProtobufCFieldDescriptor *, const uint8_t *);
static int	pbjson_dec_peek(struct pbjson_dec *);
static int	pbjson_dec_literal(struct pbjson_dec *, const char *);
static size_t	pbjson_num_len(const uint8_t *, const uint8_t *);
static int	pbjson_num_to_int(const uint8_t *, size_t, int *, uint64_t *);
static int	pbjson_hex4(const uint8_t *, unsigned *);
static int	pbjson_dec_string(struct pbjson_dec *, struct pbjson_str *);
static char	*pbjson_str_dup(const struct pbjson_str *, size_t *);
static int	pbjson_b64_decode(const uint8_t *, size_t, uint8_t **,
		    size_t *);
static int	pbjson_dec_skip(struct pbjson_dec *);
static int	pbjson_dec_integer(struct pbjson_dec *,
		    const ProtobufCFieldDescriptor *, int, int, int64_t *,
		    uint64_t *);
static int	pbjson_dec_float(struct pbjson_dec *,
		    const ProtobufCFieldDescriptor *, int, double *);
static int	pbjson_dec_timestamp(struct pbjson_dec *,
		    const ProtobufCFieldDescriptor *, ProtobufCMessage *);
static int	pbjson_dec_object(struct pbjson_dec *, ProtobufCMessage *);
static int	pbjson_dec_msg(struct pbjson_dec *,
		    const ProtobufCFieldDescriptor *, ProtobufCMessage *);
static int	pbjson_dec_value(struct pbjson_dec *,
		    const ProtobufCFieldDescriptor *, union pbjson_val *,
		    int *);
static void	pbjson_free_val(const ProtobufCFieldDescriptor *,
		    union pbjson_val *);
static void	pbjson_commit(ProtobufCMessage *,
		    const ProtobufCFieldDescriptor *, union pbjson_val *);
static int	pbjson_dec_repeated(struct pbjson_dec *, ProtobufCMessage *,
		    const ProtobufCFieldDescriptor *);
static int	pbjson_dec_map_key(struct pbjson_dec *,
		    const ProtobufCFieldDescriptor *, const struct pbjson_str *,
		    const uint8_t *, union pbjson_val *);
static int	pbjson_dec_map(struct pbjson_dec *, ProtobufCMessage *,
		    const ProtobufCFieldDescriptor *);
static const ProtobufCFieldDescriptor *pbjson_dec_field(
		    const ProtobufCMessageDescriptor *, const uint8_t *,
		    size_t);
static int	pbjson_dec_json(const ProtobufCMessageDescriptor *,
		    const uint8_t *, size_t, ProtobufCMessage **, char **);
static int	pbjson_check_unpacked(const ProtobufCMessage *, char **);
static int	pbjson_dec_proto(const ProtobufCMessageDescriptor *,
		    const uint8_t *, size_t, ProtobufCMessage **, char **);

/* --- shared helpers --- */

/*
 * Length of the valid UTF-8 sequence of two or more bytes at p, or 0 when
 * the bytes there are not one (overlong forms, surrogates and values above
 * U+10FFFF are invalid, as in Go's utf8.DecodeRune).
 */
static size_t
pbjson_utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < need || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return need;
}

/* Size of one element of a repeated field of the given type. */
static size_t
pbjson_elt_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return sizeof(int32_t);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return sizeof(uint32_t);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return sizeof(int64_t);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* Type name as protojson error messages spell it. */
static const char *
pbjson_kind(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
		return "int32";
	case PROTOBUF_C_TYPE_SINT32:
		return "sint32";
	case PROTOBUF_C_TYPE_SFIXED32:
		return "sfixed32";
	case PROTOBUF_C_TYPE_INT64:
		return "int64";
	case PROTOBUF_C_TYPE_SINT64:
		return "sint64";
	case PROTOBUF_C_TYPE_SFIXED64:
		return "sfixed64";
	case PROTOBUF_C_TYPE_UINT32:
		return "uint32";
	case PROTOBUF_C_TYPE_FIXED32:
		return "fixed32";
	case PROTOBUF_C_TYPE_UINT64:
		return "uint64";
	case PROTOBUF_C_TYPE_FIXED64:
		return "fixed64";
	case PROTOBUF_C_TYPE_FLOAT:
		return "float";
	case PROTOBUF_C_TYPE_DOUBLE:
		return "double";
	case PROTOBUF_C_TYPE_BOOL:
		return "bool";
	case PROTOBUF_C_TYPE_ENUM:
		return "enum";
	case PROTOBUF_C_TYPE_STRING:
		return "string";
	case PROTOBUF_C_TYPE_BYTES:
		return "bytes";
	case PROTOBUF_C_TYPE_MESSAGE:
		return "message";
	}
	return "unknown";
}

/*
 * Write the JSON name of a proto field name into dst (truncated to size):
 * underscores dropped, a lower-case letter after one upper-cased.
 */
static void
pbjson_json_name(const char *name, char *dst, size_t size)
{
	size_t n = 0;
	int under = 0;
	char c;

	for (; *name != '\0' && n + 1 < size; name++) {
		c = *name;
		if (c != '_') {
			if (under && c >= 'a' && c <= 'z')
				c -= 'a' - 'A';
			dst[n++] = c;
		}
		under = *name == '_';
	}
	dst[n] = '\0';
}

/* Whether key (klen bytes) is the JSON name of proto field name. */
static int
pbjson_camel_eq(const char *name, const uint8_t *key, size_t klen)
{
	size_t i = 0;
	int under = 0;
	char c;

	for (; *name != '\0'; name++) {
		c = *name;
		if (c != '_') {
			if (under && c >= 'a' && c <= 'z')
				c -= 'a' - 'A';
			if (i >= klen || key[i] != (uint8_t)c)
				return 0;
			i++;
		}
		under = *name == '_';
	}
	return i == klen;
}

/* Whether desc is google.protobuf.Timestamp. */
static int
pbjson_is_timestamp(const ProtobufCMessageDescriptor *desc)
{
	return desc != NULL && strcmp(desc->name, PBJSON_TIMESTAMP) == 0;
}

/*
 * Whether f is a map field: a repeated message whose type is the entry
 * message protoc generates for map<K, V> name, i.e. "<CamelName>Entry" with
 * key = 1 of an integral, bool or string type and value = 2.
 */
static int
pbjson_is_map(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *md;
	const char *name, *sn;
	int cap = 1;
	char c;

	if (f->label != PROTOBUF_C_LABEL_REPEATED ||
	    f->type != PROTOBUF_C_TYPE_MESSAGE || f->descriptor == NULL)
		return 0;
	md = f->descriptor;
	if (md->n_fields != 2 || md->fields[0].id != 1 ||
	    md->fields[1].id != 2 || strcmp(md->fields[0].name, "key") != 0 ||
	    strcmp(md->fields[1].name, "value") != 0 ||
	    md->fields[0].label == PROTOBUF_C_LABEL_REPEATED ||
	    md->fields[1].label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	switch (md->fields[0].type) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return 0;
	default:
		break;
	}
	sn = md->short_name;
	for (name = f->name; *name != '\0'; name++) {
		c = *name;
		if (c == '_') {
			cap = 1;
			continue;
		}
		if (cap && c >= 'a' && c <= 'z')
			c -= 'a' - 'A';
		cap = 0;
		if (*sn++ != c)
			return 0;
	}
	return strcmp(sn, "Entry") == 0;
}

/* Find the seconds (1) and nanos (2) fields of a Timestamp descriptor. */
static void
pbjson_ts_fields(const ProtobufCMessageDescriptor *desc,
    const ProtobufCFieldDescriptor **secs,
    const ProtobufCFieldDescriptor **nanos)
{
	const ProtobufCFieldDescriptor *f;

	*secs = *nanos = NULL;
	f = protobuf_c_message_descriptor_get_field(desc, 1);
	if (f != NULL && f->label != PROTOBUF_C_LABEL_REPEATED &&
	    f->type == PROTOBUF_C_TYPE_INT64)
		*secs = f;
	f = protobuf_c_message_descriptor_get_field(desc, 2);
	if (f != NULL && f->label != PROTOBUF_C_LABEL_REPEATED &&
	    f->type == PROTOBUF_C_TYPE_INT32)
		*nanos = f;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
pbjson_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Proleptic Gregorian date of a day count since 1970-01-01. */
static void
pbjson_civil_from_days(int64_t z, int64_t *yp, int *mp, int *dp)
{
	int64_t era, doe, yoe, doy, mp0;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp0 = (5 * doy + 2) / 153;
	*dp = (int)(doy - (153 * mp0 + 2) / 5 + 1);
	*mp = (int)(mp0 < 10 ? mp0 + 3 : mp0 - 9);
	*yp = yoe + era * 400 + (*mp <= 2);
}

/* Number of days in month m of year y. */
static int
pbjson_days_in(int64_t y, int m)
{
	static const int days[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* How keys of the given map key type compare. */
static enum pbjson_key
pbjson_key_kind(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return PBJSON_KEY_INT;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_BOOL:
		return PBJSON_KEY_UINT;
	default:
		return PBJSON_KEY_STR;
	}
}

/*
 * Fill ents from the n entries of a map field (entry type md) and sort them
 * by key; equal keys stay in field order. NULL entries are skipped, so
 * fewer than n elements may be filled: their entry is NULL and they sort
 * last.
 */
static void
pbjson_map_sort(const ProtobufCMessageDescriptor *md,
    ProtobufCMessage *const *entries, size_t n, struct pbjson_mapent *ents)
{
	const ProtobufCFieldDescriptor *kf = &md->fields[0];
	enum pbjson_key kind = pbjson_key_kind(kf->type);
	const void *slot;
	const char *s;
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&ents[i], 0, sizeof(ents[i]));
		ents[i].entry = entries[i];
		ents[i].idx = i;
		if (entries[i] == NULL)
			continue;
		slot = PBJSON_CMEMBER(entries[i], kf->offset);
		switch (kf->type) {
		case PROTOBUF_C_TYPE_STRING:
			s = *(char *const *)slot;
			ents[i].s = s != NULL ? s : "";
			break;
		case PROTOBUF_C_TYPE_INT32:
		case PROTOBUF_C_TYPE_SINT32:
		case PROTOBUF_C_TYPE_SFIXED32:
			ents[i].i = *(const int32_t *)slot;
			break;
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
			ents[i].i = *(const int64_t *)slot;
			break;
		case PROTOBUF_C_TYPE_UINT32:
		case PROTOBUF_C_TYPE_FIXED32:
			ents[i].u = *(const uint32_t *)slot;
			break;
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
			ents[i].u = *(const uint64_t *)slot;
			break;
		case PROTOBUF_C_TYPE_BOOL:
			ents[i].u = *(const protobuf_c_boolean *)slot != 0;
			break;
		default:
			break;
		}
	}
	if (n < 2)
		return;
	switch (kind) {
	case PBJSON_KEY_STR:
		qsort(ents, n, sizeof(*ents), pbjson_mapent_cmp_str);
		break;
	case PBJSON_KEY_INT:
		qsort(ents, n, sizeof(*ents), pbjson_mapent_cmp_int);
		break;
	case PBJSON_KEY_UINT:
		qsort(ents, n, sizeof(*ents), pbjson_mapent_cmp_uint);
		break;
	}
}

/* Compare the keys of two map entries: <0, 0 or >0; NULL entries last. */
static int
pbjson_mapent_cmp(const struct pbjson_mapent *a, const struct pbjson_mapent *b,
    enum pbjson_key kind)
{
	int c;

	if (a->entry == NULL || b->entry == NULL)
		return (a->entry == NULL) - (b->entry == NULL);
	switch (kind) {
	case PBJSON_KEY_STR:
		c = strcmp(a->s, b->s);
		return c < 0 ? -1 : c > 0;
	case PBJSON_KEY_INT:
		return (a->i > b->i) - (a->i < b->i);
	case PBJSON_KEY_UINT:
		return (a->u > b->u) - (a->u < b->u);
	}
	return 0;
}

/* qsort() comparators: by key, then by position in the field. */
static int
pbjson_mapent_cmp_str(const void *pa, const void *pb)
{
	const struct pbjson_mapent *a = pa, *b = pb;
	int c;

	if ((c = pbjson_mapent_cmp(a, b, PBJSON_KEY_STR)) != 0)
		return c;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

static int
pbjson_mapent_cmp_int(const void *pa, const void *pb)
{
	const struct pbjson_mapent *a = pa, *b = pb;
	int c;

	if ((c = pbjson_mapent_cmp(a, b, PBJSON_KEY_INT)) != 0)
		return c;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

static int
pbjson_mapent_cmp_uint(const void *pa, const void *pb)
{
	const struct pbjson_mapent *a = pa, *b = pb;
	int c;

	if ((c = pbjson_mapent_cmp(a, b, PBJSON_KEY_UINT)) != 0)
		return c;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/* --- JSON output --- */

/*
 * The "<json name>": text of recently written field names, by the address
 * of the descriptor's name (descriptors are static, so an address always
 * names the same field). Per thread: the codec also runs on pool threads.
 */
struct pbjson_jname {
	const char *key;
	size_t len;
	char text[56];
};
static _Thread_local struct pbjson_jname pbjson_jnames[64];

/* Append "<json name>": for proto field name. */
static int pbjson_enc_name_long(struct buf *, const char *);

static int
pbjson_enc_name(struct buf *b, const char *name)
{
	struct pbjson_jname *e;
	size_t n = 0;
	int under = 0;
	const char *p;
	char c;

	e = &pbjson_jnames[((uintptr_t)name * 0x9e3779b97f4a7c15ULL) >> 58];
	if (e->key == name)
		return buf_append(b, e->text, e->len);
	if (strlen(name) + 3 > sizeof(e->text))
		return pbjson_enc_name_long(b, name);
	e->text[n++] = '"';
	for (p = name; *p != '\0'; p++) {
		c = *p;
		if (c != '_') {
			if (under && c >= 'a' && c <= 'z')
				c -= 'a' - 'A';
			e->text[n++] = c;
		}
		under = c == '_';
	}
	e->text[n++] = '"';
	e->text[n++] = ':';
	e->len = n;
	e->key = name;
	return buf_append(b, e->text, e->len);
}

/* pbjson_enc_name() for names too long to keep. */
static int
pbjson_enc_name_long(struct buf *b, const char *name)
{
	char tmp[64];
	size_t n = 0;
	int under = 0, r;
	char c;

	tmp[n++] = '"';
	for (; *name != '\0'; name++) {
		c = *name;
		if (c != '_') {
			if (under && c >= 'a' && c <= 'z')
				c -= 'a' - 'A';
			if (n == sizeof(tmp)) {
				if ((r = buf_append(b, tmp, n)) != 0)
					goto out;
				n = 0;
			}
			tmp[n++] = c;
		}
		under = *name == '_';
	}
	if (n > sizeof(tmp) - 2) {
		if ((r = buf_append(b, tmp, n)) != 0)
			goto out;
		n = 0;
	}
	tmp[n++] = '"';
	tmp[n++] = ':';
	r = buf_append(b, tmp, n);
out:
	return r;
}

/* Append a signed integer, in quotes when quote is set. */
static int
pbjson_enc_int(struct buf *b, int64_t v, int quote)
{
	char tmp[24];
	size_t n = 0;

	if (quote)
		tmp[n++] = '"';
	if (v < 0) {
		tmp[n++] = '-';
		n += fmt_u64(tmp + n, -(uint64_t)v);
	} else
		n += fmt_u64(tmp + n, (uint64_t)v);
	if (quote)
		tmp[n++] = '"';
	return buf_append(b, tmp, n);
}

/* Append an unsigned integer, in quotes when quote is set. */
static int
pbjson_enc_uint(struct buf *b, uint64_t v, int quote)
{
	char tmp[24];
	size_t n = 0;

	if (quote)
		tmp[n++] = '"';
	n += fmt_u64(tmp + n, v);
	if (quote)
		tmp[n++] = '"';
	return buf_append(b, tmp, n);
}

/*
 * Append a float (is32) or double as protojson does: the shortest text that
 * reads back to the same value, in fixed notation for magnitudes in
 * [1e-6, 1e21) and exponent notation otherwise; NaN and infinities as
 * strings.
 */
static int
pbjson_enc_float(struct buf *b, double v, int is32)
{
	char num[40], out[400], dig[20];
	size_t n = 0, nd = 0, i;
	int prec, maxprec = is32 ? 9 : 17, exp10 = 0, neg, sci, r;
	double a;
	const char *p;

	if (isnan(v)) {
		r = buf_puts(b, "\"NaN\"");
		goto out;
	}
	if (isinf(v)) {
		r = buf_puts(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		goto out;
	}
	neg = signbit(v) != 0;
	a = neg ? -v : v;
	if (a == 0) {
		r = buf_puts(b, neg ? "-0" : "0");
		goto out;
	}
	for (prec = 1; prec <= maxprec; prec++) {
		snprintf(num, sizeof(num), "%.*e", prec - 1, a);
		if (is32 ? strtof(num, NULL) == (float)a :
		    strtod(num, NULL) == a)
			break;
	}
	for (p = num; *p != 'e' && *p != '\0'; p++)
		if (*p >= '0' && *p <= '9' && nd < sizeof(dig))
			dig[nd++] = *p;
	if (*p == 'e')
		exp10 = atoi(p + 1);
	while (nd > 1 && dig[nd - 1] == '0')
		nd--;
	if (is32)
		sci = (float)a < 1e-6f || (float)a >= 1e21f;
	else
		sci = a < 1e-6 || a >= 1e21;
	if (neg)
		out[n++] = '-';
	if (sci) {
		out[n++] = dig[0];
		if (nd > 1) {
			out[n++] = '.';
			for (i = 1; i < nd; i++)
				out[n++] = dig[i];
		}
		n += (size_t)snprintf(out + n, sizeof(out) - n,
		    exp10 < 0 ? "e-%d" : "e+%02d", exp10 < 0 ? -exp10 : exp10);
	} else if (exp10 >= 0) {
		for (i = 0; i < nd || (int)i <= exp10; i++) {
			if ((int)i == exp10 + 1)
				out[n++] = '.';
			out[n++] = i < nd ? dig[i] : '0';
		}
	} else {
		out[n++] = '0';
		out[n++] = '.';
		for (i = 0; (int)i < -exp10 - 1; i++)
			out[n++] = '0';
		for (i = 0; i < nd; i++)
			out[n++] = dig[i];
	}
	r = buf_append(b, out, n);
out:
	return r;
}

/*
 * Append s (len bytes) as a JSON string. Escapes ", \, control characters
 * and DEL like protojson; other bytes are copied, except that bytes that
 * are not valid UTF-8 become U+FFFD.
 */
static int
pbjson_enc_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)s, *end = p + len, *run;
	char esc[6];
	size_t n, esclen;
	uint8_t c;
	int r;

	if ((r = buf_append(b, "\"", 1)) != 0)
		goto out;
	run = p;
	while (p < end) {
		c = *p;
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			p++;
			continue;
		}
		if (c >= 0x80 && (n = pbjson_utf8_len(p, end - p)) != 0) {
			p += n;
			continue;
		}
		if ((r = buf_append(b, run, p - run)) != 0)
			goto out;
		if (c >= 0x80) {
			if ((r = buf_append(b, "\xef\xbf\xbd", 3)) != 0)
				goto out;
		} else {
			esc[0] = '\\';
			esclen = 2;
			switch (c) {
			case '"':
			case '\\':
				esc[1] = (char)c;
				break;
			case '\b':
				esc[1] = 'b';
				break;
			case '\f':
				esc[1] = 'f';
				break;
			case '\n':
				esc[1] = 'n';
				break;
			case '\r':
				esc[1] = 'r';
				break;
			case '\t':
				esc[1] = 't';
				break;
			default:
				esc[1] = 'u';
				esc[2] = '0';
				esc[3] = '0';
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 0xf];
				esclen = 6;
				break;
			}
			if ((r = buf_append(b, esc, esclen)) != 0)
				goto out;
		}
		run = ++p;
	}
	if ((r = buf_append(b, run, p - run)) != 0)
		goto out;
	r = buf_append(b, "\"", 1);
out:
	return r;
}

/* Append len bytes as a quoted, padded standard base64 string. */
static int
pbjson_enc_base64(struct buf *b, const uint8_t *p, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t need, i, n = 0;
	uint32_t v;
	uint8_t *dst;
	int r = 0;

	if (len > (SIZE_MAX - 8) / 4 * 3) {
		r = -ENOBUFS;
		goto out;
	}
	need = (len + 2) / 3 * 4 + 2;
	if ((dst = buf_reserve(b, need)) == NULL) {
		r = -ENOBUFS;
		goto out;
	}
	dst[n++] = '"';
	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		dst[n++] = tab[v >> 18];
		dst[n++] = tab[(v >> 12) & 0x3f];
		dst[n++] = tab[(v >> 6) & 0x3f];
		dst[n++] = tab[v & 0x3f];
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		dst[n++] = tab[v >> 18];
		dst[n++] = tab[(v >> 12) & 0x3f];
		dst[n++] = '=';
		dst[n++] = '=';
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		dst[n++] = tab[v >> 18];
		dst[n++] = tab[(v >> 12) & 0x3f];
		dst[n++] = tab[(v >> 6) & 0x3f];
		dst[n++] = '=';
	}
	dst[n++] = '"';
	buf_commit(b, n);
out:
	return r;
}

/*
 * Append a google.protobuf.Timestamp as a quoted RFC 3339 UTC time with
 * 0, 3, 6 or 9 fractional digits.
 */
static int
pbjson_enc_timestamp(struct buf *b, const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *fs, *fn;
	int64_t secs = 0, days, sod, year;
	int32_t nanos = 0;
	int month, day, digits, r;
	char tmp[40];
	size_t n = 0;

	pbjson_ts_fields(m->descriptor, &fs, &fn);
	if (fs != NULL)
		secs = *(const int64_t *)PBJSON_CMEMBER(m, fs->offset);
	if (fn != NULL)
		nanos = *(const int32_t *)PBJSON_CMEMBER(m, fn->offset);
	if (secs < PBJSON_TS_MIN || secs > PBJSON_TS_MAX || nanos < 0 ||
	    nanos > 999999999) {
		r = -EINVAL;
		goto out;
	}
	days = secs / 86400;
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	pbjson_civil_from_days(days, &year, &month, &day);
	tmp[n++] = '"';
	n += fmt_digits(tmp + n, (unsigned)year, 4);
	tmp[n++] = '-';
	n += fmt_digits(tmp + n, (unsigned)month, 2);
	tmp[n++] = '-';
	n += fmt_digits(tmp + n, (unsigned)day, 2);
	tmp[n++] = 'T';
	n += fmt_digits(tmp + n, (unsigned)(sod / 3600), 2);
	tmp[n++] = ':';
	n += fmt_digits(tmp + n, (unsigned)(sod / 60 % 60), 2);
	tmp[n++] = ':';
	n += fmt_digits(tmp + n, (unsigned)(sod % 60), 2);
	if (nanos != 0) {
		if (nanos % 1000000 == 0) {
			digits = 3;
			nanos /= 1000000;
		} else if (nanos % 1000 == 0) {
			digits = 6;
			nanos /= 1000;
		} else
			digits = 9;
		tmp[n++] = '.';
		n += fmt_digits(tmp + n, (unsigned)nanos, digits);
	}
	tmp[n++] = 'Z';
	tmp[n++] = '"';
	r = buf_append(b, tmp, n);
out:
	return r;
}

/* Append a message as a JSON object (or a Timestamp string). */
static int
pbjson_enc_message(struct buf *b, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	unsigned i;
	int first = 1, r;

	if (pbjson_is_timestamp(desc)) {
		r = pbjson_enc_timestamp(b, m);
		goto out;
	}
	if ((r = buf_append(b, "{", 1)) != 0)
		goto out;
	for (i = 0; i < desc->n_fields; i++) {
		f = &desc->fields[i];
		if (!pbjson_enc_present(m, f))
			continue;
		if (!first && (r = buf_append(b, ",", 1)) != 0)
			goto out;
		first = 0;
		if ((r = pbjson_enc_name(b, f->name)) != 0 ||
		    (r = pbjson_enc_field(b, m, f)) != 0)
			goto out;
	}
	r = buf_append(b, "}", 1);
out:
	return r;
}

/* Append sub-message m of field f; a NULL message is written as empty. */
static int
pbjson_enc_submessage(struct buf *b, const ProtobufCFieldDescriptor *f,
    const ProtobufCMessage *m)
{
	if (m != NULL)
		return pbjson_enc_message(b, m);
	if (pbjson_is_timestamp(f->descriptor))
		return buf_puts(b, "\"1970-01-01T00:00:00Z\"");
	return buf_append(b, "{}", 2);
}

/* Whether field f of m is written: the protojson presence rules. */
static int
pbjson_enc_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const void *slot = PBJSON_CMEMBER(m, f->offset);
	const char *s;
	float fv;
	double dv;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)PBJSON_CMEMBER(m,
		    f->quantifier_offset) == f->id;
	switch (f->label) {
	case PROTOBUF_C_LABEL_REPEATED:
		return *(const size_t *)PBJSON_CMEMBER(m,
		    f->quantifier_offset) != 0;
	case PROTOBUF_C_LABEL_REQUIRED:
		return 1;
	case PROTOBUF_C_LABEL_OPTIONAL:
		if (f->type == PROTOBUF_C_TYPE_STRING ||
		    f->type == PROTOBUF_C_TYPE_MESSAGE)
			return *(void *const *)slot != NULL &&
			    *(void *const *)slot != f->default_value;
		return *(const protobuf_c_boolean *)PBJSON_CMEMBER(m,
		    f->quantifier_offset) != 0;
	case PROTOBUF_C_LABEL_NONE:
		break;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return *(const uint32_t *)slot != 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)slot != 0;
	case PROTOBUF_C_TYPE_FLOAT:
		fv = *(const float *)slot;
		return fv != 0 || signbit(fv);
	case PROTOBUF_C_TYPE_DOUBLE:
		dv = *(const double *)slot;
		return dv != 0 || signbit(dv);
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)slot != 0;
	case PROTOBUF_C_TYPE_ENUM:
		return *(const int *)slot != 0;
	case PROTOBUF_C_TYPE_STRING:
		s = *(char *const *)slot;
		return s != NULL && s[0] != '\0';
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)slot)->len != 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)slot != NULL;
	}
	return 0;
}

/* Append one value of field f stored at slot. */
static int
pbjson_enc_value(struct buf *b, const ProtobufCFieldDescriptor *f,
    const void *slot)
{
	const ProtobufCEnumValue *ev;
	const ProtobufCBinaryData *bd;
	const char *s;
	int r;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		r = pbjson_enc_int(b, *(const int32_t *)slot, 0);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		r = pbjson_enc_uint(b, *(const uint32_t *)slot, 0);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		r = pbjson_enc_int(b, *(const int64_t *)slot, 1);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		r = pbjson_enc_uint(b, *(const uint64_t *)slot, 1);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		r = pbjson_enc_float(b, *(const float *)slot, 1);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		r = pbjson_enc_float(b, *(const double *)slot, 0);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		r = *(const protobuf_c_boolean *)slot ?
		    buf_append(b, "true", 4) : buf_append(b, "false", 5);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(f->descriptor,
		    *(const int *)slot);
		if (ev == NULL) {
			r = pbjson_enc_int(b, *(const int *)slot, 0);
			break;
		}
		if ((r = buf_append(b, "\"", 1)) != 0 ||
		    (r = buf_puts(b, ev->name)) != 0)
			break;
		r = buf_append(b, "\"", 1);
		break;
	case PROTOBUF_C_TYPE_STRING:
		s = *(char *const *)slot;
		r = s != NULL ? pbjson_enc_string(b, s, strlen(s)) :
		    buf_append(b, "\"\"", 2);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		bd = slot;
		r = pbjson_enc_base64(b, bd->data, bd->data ? bd->len : 0);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		r = pbjson_enc_submessage(b, f,
		    *(const ProtobufCMessage *const *)slot);
		break;
	default:
		r = -EINVAL;
		break;
	}
	return r;
}

/* Append the value of present field f of m: scalar, array or map. */
static int
pbjson_enc_field(struct buf *b, const ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f)
{
	const void *slot = PBJSON_CMEMBER(m, f->offset);
	const char *arr;
	size_t n, i, sz;
	int r;

	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		r = pbjson_enc_value(b, f, slot);
		goto out;
	}
	n = *(const size_t *)PBJSON_CMEMBER(m, f->quantifier_offset);
	arr = *(const char *const *)slot;
	if (arr == NULL)
		n = 0;
	if (pbjson_is_map(f)) {
		r = pbjson_enc_map(b, f, (ProtobufCMessage *const *)arr, n);
		goto out;
	}
	sz = pbjson_elt_size(f->type);
	if ((r = buf_append(b, "[", 1)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (i > 0 && (r = buf_append(b, ",", 1)) != 0)
			goto out;
		if ((r = pbjson_enc_value(b, f, arr + i * sz)) != 0)
			goto out;
	}
	r = buf_append(b, "]", 1);
out:
	return r;
}

/*
 * Append a map field as an object with keys sorted; for a key given more
 * than once the last entry wins, as when protobuf parses a map.
 */
static int
pbjson_enc_map(struct buf *b, const ProtobufCFieldDescriptor *f,
    ProtobufCMessage *const *entries, size_t n)
{
	const ProtobufCMessageDescriptor *md = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &md->fields[0];
	const ProtobufCFieldDescriptor *vf = &md->fields[1];
	enum pbjson_key kind = pbjson_key_kind(kf->type);
	struct pbjson_mapent small[16], *ents = small;
	size_t i;
	int first = 1, r;

	if (n > sizeof(small) / sizeof(small[0]))
		ents = xreallocarray(NULL, n, sizeof(*ents));
	pbjson_map_sort(md, entries, n, ents);
	if ((r = buf_append(b, "{", 1)) != 0)
		goto out;
	for (i = 0; i < n && ents[i].entry != NULL; i++) {
		if (i + 1 < n && ents[i + 1].entry != NULL &&
		    pbjson_mapent_cmp(&ents[i], &ents[i + 1], kind) == 0)
			continue;
		if (!first && (r = buf_append(b, ",", 1)) != 0)
			goto out;
		first = 0;
		if ((r = pbjson_enc_map_key(b, kf, &ents[i])) != 0 ||
		    (r = buf_append(b, ":", 1)) != 0 ||
		    (r = pbjson_enc_value(b, vf, PBJSON_CMEMBER(ents[i].entry,
		    vf->offset))) != 0)
			goto out;
	}
	r = buf_append(b, "}", 1);
out:
	if (ents != small)
		free(ents);
	return r;
}

/* Append a map key as a JSON object key (always a string). */
static int
pbjson_enc_map_key(struct buf *b, const ProtobufCFieldDescriptor *kf,
    const struct pbjson_mapent *e)
{
	switch (pbjson_key_kind(kf->type)) {
	case PBJSON_KEY_STR:
		return pbjson_enc_string(b, e->s, strlen(e->s));
	case PBJSON_KEY_INT:
		return pbjson_enc_int(b, e->i, 1);
	case PBJSON_KEY_UINT:
		if (kf->type == PROTOBUF_C_TYPE_BOOL)
			return buf_puts(b, e->u ? "\"true\"" : "\"false\"");
		return pbjson_enc_uint(b, e->u, 1);
	}
	return -EINVAL;
}

/* Append the binary wire form of msg. */
static int
pbjson_enc_proto(const ProtobufCMessage *msg, struct buf *out)
{
	uint8_t *dst;
	size_t size;
	int r = 0;

	size = protobuf_c_message_get_packed_size(msg);
	if (size == 0)
		goto out;
	if ((dst = buf_reserve(out, size)) == NULL) {
		r = -ENOBUFS;
		goto out;
	}
	protobuf_c_message_pack(msg, dst);
	buf_commit(out, size);
out:
	return r;
}

/* --- JSON input --- */

/*
 * Record the first error of a decode, with its line and column, and return
 * -EINVAL. Bytes of the message that are not printable UTF-8 become '?'.
 */
static int
pbjson_dec_error(struct pbjson_dec *d, const uint8_t *at, int syntax,
    const char *fmt, ...)
{
	const uint8_t *p;
	unsigned line = 1, col = 1;
	char *msg;
	uint8_t *q;
	size_t n;
	va_list ap;

	if (d->err != NULL)
		return -EINVAL;
	if (at > d->end)
		at = d->end;
	for (p = d->start; p < at; p++) {
		if (*p == '\n') {
			line++;
			col = 1;
		} else if ((*p & 0xc0) != 0x80)
			col++;
	}
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	for (q = (uint8_t *)msg; *q != '\0'; q++) {
		if (*q >= 0x80 && (n = pbjson_utf8_len(q, strlen((char *)q))))
			q += n - 1;
		else if (*q < 0x20 || *q >= 0x7f)
			*q = '?';
	}
	d->err = xasprintf("proto: %s(line %u:%u): %s",
	    syntax ? "syntax error " : "", line, col, msg);
	free(msg);
	return -EINVAL;
}

/* Length of the token at tok, for quoting it in an error message. */
static size_t
pbjson_dec_token_len(const struct pbjson_dec *d, const uint8_t *tok)
{
	const uint8_t *p = tok;
	size_t n;

	if (p >= d->end)
		return 0;
	if (*p == '"') {
		for (p++; p < d->end && *p != '"'; p++)
			if (*p == '\\' && p + 1 < d->end)
				p++;
		if (p < d->end)
			p++;
	} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
		if ((n = pbjson_num_len(p, d->end)) == 0)
			n = 1;
		p += n;
	} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
		while (p < d->end && ((*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z')))
			p++;
	} else
		p++;
	n = (size_t)(p - tok);
	if (n > PBJSON_ERR_TOKEN) {
		n = PBJSON_ERR_TOKEN;
		while (n > 0 && (tok[n] & 0xc0) == 0x80)
			n--;
	}
	return n;
}

/* Fail with protojson's "invalid value for <kind> field <name>: <token>". */
static int
pbjson_dec_invalid(struct pbjson_dec *d, const ProtobufCFieldDescriptor *f,
    const uint8_t *tok)
{
	char name[128];

	if (tok >= d->end)
		return pbjson_dec_error(d, tok, 1, "unexpected end of input");
	pbjson_json_name(f->name, name, sizeof(name));
	return pbjson_dec_error(d, tok, 0,
	    "invalid value for %s field %s: %.*s", pbjson_kind(f->type), name,
	    (int)pbjson_dec_token_len(d, tok), (const char *)tok);
}

/* Skip whitespace; return the next byte, or -1 at the end of input. */
static int
pbjson_dec_peek(struct pbjson_dec *d)
{
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' ||
	    *d->p == '\n' || *d->p == '\r'))
		d->p++;
	return d->p < d->end ? *d->p : -1;
}

/* Consume the literal lit (true, false or null) if it is next. */
static int
pbjson_dec_literal(struct pbjson_dec *d, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(d->end - d->p) < n || memcmp(d->p, lit, n) != 0)
		return 0;
	d->p += n;
	return 1;
}

/* Length of the JSON number that starts at p, or 0 if none does. */
static size_t
pbjson_num_len(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *s = p, *e;

	if (s < end && *s == '-')
		s++;
	if (s >= end)
		return 0;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9') {
		while (s < end && *s >= '0' && *s <= '9')
			s++;
	} else
		return 0;
	if (end - s >= 2 && s[0] == '.' && s[1] >= '0' && s[1] <= '9') {
		s += 2;
		while (s < end && *s >= '0' && *s <= '9')
			s++;
	}
	if (s < end && (*s == 'e' || *s == 'E')) {
		e = s + 1;
		if (e < end && (*e == '+' || *e == '-'))
			e++;
		if (e < end && *e >= '0' && *e <= '9') {
			while (e < end && *e >= '0' && *e <= '9')
				e++;
			s = e;
		}
	}
	return (size_t)(s - p);
}

/*
 * Convert a complete JSON number to sign and magnitude when its value is an
 * integer ("1", "1.0", "1e2", "100e-2"); -ERANGE when it is not or when the
 * magnitude exceeds 64 bits.
 */
static int
pbjson_num_to_int(const uint8_t *s, size_t len, int *negp, uint64_t *magp)
{
	const uint8_t *end = s + len, *intp = NULL, *frac = NULL;
	size_t nint = 0, nfrac = 0, ndig, i;
	int64_t exp = 0;
	int eneg = 0, neg = 0;
	uint64_t mag = 0;
	uint8_t c;

	if (s < end && *s == '-') {
		neg = 1;
		s++;
	}
	if (s < end && *s == '0')
		s++;
	else {
		intp = s;
		while (s < end && *s >= '0' && *s <= '9')
			s++;
		nint = (size_t)(s - intp);
	}
	if (s < end && *s == '.') {
		frac = ++s;
		while (s < end && *s >= '0' && *s <= '9')
			s++;
		nfrac = (size_t)(s - frac);
		while (nfrac > 0 && frac[nfrac - 1] == '0')
			nfrac--;
	}
	*negp = 0;
	*magp = 0;
	if (nint == 0 && nfrac == 0)
		return 0;
	if (s < end && (*s == 'e' || *s == 'E')) {
		s++;
		if (s < end && (*s == '+' || *s == '-'))
			eneg = *s++ == '-';
		for (; s < end; s++) {
			exp = exp * 10 + (*s - '0');
			if (exp > (int64_t)INT32_MAX + eneg)
				return -ERANGE;
		}
		if (eneg)
			exp = -exp;
	}
	if (exp >= 0) {
		if ((int64_t)nfrac > exp || (int64_t)nint + exp > 20)
			return -ERANGE;
		ndig = nint + (size_t)exp;
	} else {
		if (nfrac > 0 || (int64_t)nint + exp < 0)
			return -ERANGE;
		ndig = (size_t)((int64_t)nint + exp);
		for (i = ndig; i < nint; i++)
			if (intp[i] != '0')
				return -ERANGE;
	}
	for (i = 0; i < ndig; i++) {
		if (i < nint)
			c = intp[i];
		else if (i - nint < nfrac)
			c = frac[i - nint];
		else
			c = '0';
		if (mag > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
			return -ERANGE;
		mag = mag * 10 + (uint64_t)(c - '0');
	}
	*negp = neg && mag != 0;
	*magp = mag;
	return 0;
}

/* Parse four hex digits at p into *v; 0 if they are not hex digits. */
static int
pbjson_hex4(const uint8_t *p, unsigned *v)
{
	unsigned i, x = 0;
	uint8_t c;

	for (i = 0; i < 4; i++) {
		c = p[i];
		if (c >= '0' && c <= '9')
			x = x * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			x = x * 16 + (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			x = x * 16 + (c - 'A' + 10);
		else
			return 0;
	}
	*v = x;
	return 1;
}

/*
 * Read and fully validate the string token at d->p (which is '"'): escape
 * sequences, surrogate pairs, raw control characters and UTF-8. On success
 * s describes the raw bytes and d->p is past the closing quote.
 */
static int
pbjson_dec_string(struct pbjson_dec *d, struct pbjson_str *s)
{
	const uint8_t *p = d->p + 1, *end = d->end;
	unsigned hi, lo;
	size_t n;
	int r = 0;

	s->esc = 0;
	for (;;) {
		if (p >= end) {
			r = pbjson_dec_error(d, p, 1,
			    "unexpected end of input");
			goto out;
		}
		if (*p == '"')
			break;
		if (*p == '\\') {
			s->esc = 1;
			if (end - p < 2) {
				r = pbjson_dec_error(d, end, 1,
				    "unexpected end of input");
				goto out;
			}
			switch (p[1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				p += 2;
				continue;
			case 'u':
				break;
			default:
				r = pbjson_dec_error(d, p, 1,
				    "invalid escape code in string");
				goto out;
			}
			if (end - p < 6) {
				r = pbjson_dec_error(d, end, 1,
				    "unexpected end of input");
				goto out;
			}
			if (!pbjson_hex4(p + 2, &hi)) {
				r = pbjson_dec_error(d, p, 1,
				    "invalid escape code in string");
				goto out;
			}
			p += 6;
			if (hi < 0xd800 || hi > 0xdfff)
				continue;
			if (end - p < 6) {
				r = pbjson_dec_error(d, end, 1,
				    "unexpected end of input");
				goto out;
			}
			if (hi > 0xdbff || p[0] != '\\' || p[1] != 'u' ||
			    !pbjson_hex4(p + 2, &lo) || lo < 0xdc00 ||
			    lo > 0xdfff) {
				r = pbjson_dec_error(d, p, 1,
				    "invalid escape code in string");
				goto out;
			}
			p += 6;
			continue;
		}
		if (*p < 0x20) {
			r = pbjson_dec_error(d, p, 1,
			    "invalid character in string");
			goto out;
		}
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((n = pbjson_utf8_len(p, (size_t)(end - p))) == 0) {
			r = pbjson_dec_error(d, p, 1,
			    "invalid UTF-8 in string");
			goto out;
		}
		p += n;
	}
	s->raw = d->p + 1;
	s->len = (size_t)(p - s->raw);
	d->p = p + 1;
out:
	return r;
}

/*
 * Unescape a validated string token into a new NUL-terminated allocation;
 * *lenp is its length, which may count embedded NULs.
 */
static char *
pbjson_str_dup(const struct pbjson_str *s, size_t *lenp)
{
	const uint8_t *p = s->raw, *end = s->raw + s->len;
	unsigned cp = 0, lo = 0;
	uint8_t *out;
	size_t n = 0;

	out = xmalloc(s->len + 1);
	if (!s->esc) {
		memcpy(out, s->raw, s->len);
		n = s->len;
		goto out;
	}
	while (p < end) {
		if (*p != '\\') {
			out[n++] = *p++;
			continue;
		}
		switch (p[1]) {
		case 'b':
			out[n++] = '\b';
			break;
		case 'f':
			out[n++] = '\f';
			break;
		case 'n':
			out[n++] = '\n';
			break;
		case 'r':
			out[n++] = '\r';
			break;
		case 't':
			out[n++] = '\t';
			break;
		case 'u':
			pbjson_hex4(p + 2, &cp);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				p += 6;
				pbjson_hex4(p + 2, &lo);
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			if (cp < 0x80)
				out[n++] = (uint8_t)cp;
			else if (cp < 0x800) {
				out[n++] = (uint8_t)(0xc0 | cp >> 6);
				out[n++] = (uint8_t)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				out[n++] = (uint8_t)(0xe0 | cp >> 12);
				out[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
				out[n++] = (uint8_t)(0x80 | (cp & 0x3f));
			} else {
				out[n++] = (uint8_t)(0xf0 | cp >> 18);
				out[n++] = (uint8_t)(0x80 |
				    ((cp >> 12) & 0x3f));
				out[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
				out[n++] = (uint8_t)(0x80 | (cp & 0x3f));
			}
			p += 6;
			continue;
		default:
			out[n++] = p[1];
			break;
		}
		p += 2;
	}
out:
	out[n] = '\0';
	*lenp = n;
	return (char *)out;
}

/*
 * Decode base64 as protojson does: the URL-safe alphabet when the text
 * contains '-' or '_', otherwise the standard one; padding required when
 * the length is a multiple of four and forbidden otherwise; CR and LF
 * ignored. On success *outp is NULL for empty output.
 */
static int
pbjson_b64_decode(const uint8_t *s, size_t n, uint8_t **outp,
    size_t *outlenp)
{
	int url, padded, v, r = 0;
	size_t si = 0, o = 0, j;
	uint8_t q[4], c, *out = NULL;

	*outp = NULL;
	*outlenp = 0;
	url = memchr(s, '-', n) != NULL || memchr(s, '_', n) != NULL;
	padded = n % 4 == 0;
	out = xmalloc(n / 4 * 3 + 3);
	while (si < n) {
		for (j = 0; j < 4;) {
			if (si == n) {
				if (j == 0)
					goto done;
				if (j == 1 || padded) {
					r = -EINVAL;
					goto out;
				}
				break;
			}
			c = s[si++];
			if (c == '\r' || c == '\n')
				continue;
			if (c >= 'A' && c <= 'Z')
				v = c - 'A';
			else if (c >= 'a' && c <= 'z')
				v = c - 'a' + 26;
			else if (c >= '0' && c <= '9')
				v = c - '0' + 52;
			else if (c == (url ? '-' : '+'))
				v = 62;
			else if (c == (url ? '_' : '/'))
				v = 63;
			else
				v = -1;
			if (v >= 0) {
				q[j++] = (uint8_t)v;
				continue;
			}
			if (c != '=' || !padded || j < 2) {
				r = -EINVAL;
				goto out;
			}
			if (j == 2) {
				while (si < n && (s[si] == '\r' ||
				    s[si] == '\n'))
					si++;
				if (si == n || s[si] != '=') {
					r = -EINVAL;
					goto out;
				}
				si++;
			}
			while (si < n && (s[si] == '\r' || s[si] == '\n'))
				si++;
			if (si < n) {
				r = -EINVAL;
				goto out;
			}
			break;
		}
		if (j >= 2)
			out[o++] = (uint8_t)(q[0] << 2 | q[1] >> 4);
		if (j >= 3)
			out[o++] = (uint8_t)(q[1] << 4 | q[2] >> 2);
		if (j == 4)
			out[o++] = (uint8_t)(q[2] << 6 | q[3]);
		if (j < 4)
			break;
	}
done:
	if (o > 0) {
		*outp = out;
		*outlenp = o;
		out = NULL;
	}
out:
	free(out);
	return r;
}

/* Skip one JSON value of any kind, validating it. */
static int
pbjson_dec_skip(struct pbjson_dec *d)
{
	struct pbjson_str s;
	size_t n;
	int c, close, r = 0;

	switch ((c = pbjson_dec_peek(d))) {
	case -1:
		r = pbjson_dec_error(d, d->p, 1, "unexpected end of input");
		goto out;
	case '"':
		r = pbjson_dec_string(d, &s);
		goto out;
	case '{':
	case '[':
		break;
	default:
		if (pbjson_dec_literal(d, "true") ||
		    pbjson_dec_literal(d, "false") ||
		    pbjson_dec_literal(d, "null"))
			goto out;
		if ((n = pbjson_num_len(d->p, d->end)) == 0) {
			r = pbjson_dec_error(d, d->p, 1,
			    "invalid value %.*s",
			    (int)pbjson_dec_token_len(d, d->p),
			    (const char *)d->p);
			goto out;
		}
		d->p += n;
		goto out;
	}
	if (++d->depth > PBJSON_MAX_DEPTH) {
		r = pbjson_dec_error(d, d->p, 1,
		    "exceeded maximum nesting depth %d", PBJSON_MAX_DEPTH);
		goto out;
	}
	close = c == '{' ? '}' : ']';
	d->p++;
	if (pbjson_dec_peek(d) == close) {
		d->p++;
		d->depth--;
		goto out;
	}
	for (;;) {
		if (c == '{') {
			if (pbjson_dec_peek(d) != '"') {
				r = pbjson_dec_error(d, d->p, 1,
				    "expected object key");
				goto out;
			}
			if ((r = pbjson_dec_string(d, &s)) != 0)
				goto out;
			if (pbjson_dec_peek(d) != ':') {
				r = pbjson_dec_error(d, d->p, 1,
				    "expected ':' after object key");
				goto out;
			}
			d->p++;
		}
		if ((r = pbjson_dec_skip(d)) != 0)
			goto out;
		if (pbjson_dec_peek(d) == ',') {
			d->p++;
			continue;
		}
		if (pbjson_dec_peek(d) == close) {
			d->p++;
			break;
		}
		r = pbjson_dec_error(d, d->p, 1, "expected ',' or '%c'", close);
		goto out;
	}
	d->depth--;
out:
	return r;
}

/*
 * Read an integer for field f from a JSON number or a string holding one.
 * bits is 32 or 64; signed values come back in *iv, unsigned in *uv.
 */
static int
pbjson_dec_integer(struct pbjson_dec *d, const ProtobufCFieldDescriptor *f,
    int bits, int is_signed, int64_t *iv, uint64_t *uv)
{
	const uint8_t *tok = d->p, *txt;
	struct pbjson_str s;
	char *tmp = NULL;
	size_t len;
	uint64_t mag, lim;
	int neg, r;

	if (tok < d->end && *tok == '"') {
		if ((r = pbjson_dec_string(d, &s)) != 0)
			goto out;
		if (s.esc) {
			tmp = pbjson_str_dup(&s, &len);
			txt = (const uint8_t *)tmp;
		} else {
			txt = s.raw;
			len = s.len;
		}
		if (len == 0 || pbjson_num_len(txt, txt + len) != len) {
			r = pbjson_dec_invalid(d, f, tok);
			goto out;
		}
	} else {
		txt = tok;
		if ((len = pbjson_num_len(tok, d->end)) == 0) {
			r = pbjson_dec_invalid(d, f, tok);
			goto out;
		}
		d->p += len;
	}
	if (pbjson_num_to_int(txt, len, &neg, &mag) != 0) {
		r = pbjson_dec_invalid(d, f, tok);
		goto out;
	}
	if (is_signed) {
		lim = (uint64_t)1 << (bits - 1);
		if (neg ? mag > lim : mag >= lim) {
			r = pbjson_dec_invalid(d, f, tok);
			goto out;
		}
		*iv = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	} else {
		lim = bits == 64 ? UINT64_MAX : UINT32_MAX;
		if (neg || mag > lim) {
			r = pbjson_dec_invalid(d, f, tok);
			goto out;
		}
		*uv = mag;
	}
	r = 0;
out:
	free(tmp);
	return r;
}

/*
 * Read a float (bits 32) or double for field f: a JSON number, a string
 * holding one, or "NaN", "Infinity", "-Infinity". Finite text that
 * overflows the type is rejected.
 */
static int
pbjson_dec_float(struct pbjson_dec *d, const ProtobufCFieldDescriptor *f,
    int bits, double *out)
{
	const uint8_t *tok = d->p, *txt;
	struct pbjson_str s;
	char *tmp = NULL, *num = NULL;
	size_t len;
	double v;
	int r;

	if (tok < d->end && *tok == '"') {
		if ((r = pbjson_dec_string(d, &s)) != 0)
			goto out;
		tmp = pbjson_str_dup(&s, &len);
		if (strcmp(tmp, "NaN") == 0 && len == 3) {
			*out = NAN;
			r = 0;
			goto out;
		}
		if (strcmp(tmp, "Infinity") == 0 && len == 8) {
			*out = INFINITY;
			r = 0;
			goto out;
		}
		if (strcmp(tmp, "-Infinity") == 0 && len == 9) {
			*out = -INFINITY;
			r = 0;
			goto out;
		}
		txt = (const uint8_t *)tmp;
		if (len == 0 || pbjson_num_len(txt, txt + len) != len) {
			r = pbjson_dec_invalid(d, f, tok);
			goto out;
		}
	} else {
		txt = tok;
		if ((len = pbjson_num_len(tok, d->end)) == 0) {
			r = pbjson_dec_invalid(d, f, tok);
			goto out;
		}
		d->p += len;
	}
	num = xmemdup0(txt, len);
	if (bits == 32)
		v = strtof(num, NULL);
	else
		v = strtod(num, NULL);
	if (isinf(v)) {
		r = pbjson_dec_invalid(d, f, tok);
		goto out;
	}
	*out = v;
	r = 0;
out:
	free(num);
	free(tmp);
	return r;
}

/*
 * Read an RFC 3339 string into Timestamp message m ("2006-01-02T15:04:05",
 * up to 9 fractional digits, then "Z" or a +hh:mm / -hh:mm offset), within
 * years 1 to 9999 once converted to UTC.
 */
static int
pbjson_dec_timestamp(struct pbjson_dec *d, const ProtobufCFieldDescriptor *f,
    ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *fs, *fn;
	const uint8_t *tok = d->p, *p, *end;
	struct pbjson_str s;
	char *tmp = NULL;
	size_t len, nd;
	int64_t year, secs;
	int mon, day, hh, mm, ss, nanos = 0, oh, om, r, i;

	if (tok >= d->end || *tok != '"')
		goto bad;
	if ((r = pbjson_dec_string(d, &s)) != 0)
		goto out;
	tmp = pbjson_str_dup(&s, &len);
	p = (const uint8_t *)tmp;
	end = p + len;
	if (len < 20)
		goto bad;
	for (i = 0; i < 19; i++) {
		if (i == 4 || i == 7) {
			if (p[i] != '-')
				goto bad;
		} else if (i == 10) {
			if (p[i] != 'T')
				goto bad;
		} else if (i == 13 || i == 16) {
			if (p[i] != ':')
				goto bad;
		} else if (p[i] < '0' || p[i] > '9')
			goto bad;
	}
#define PBJSON_D2(q) (((q)[0] - '0') * 10 + ((q)[1] - '0'))
	year = PBJSON_D2(p) * 100 + PBJSON_D2(p + 2);
	mon = PBJSON_D2(p + 5);
	day = PBJSON_D2(p + 8);
	hh = PBJSON_D2(p + 11);
	mm = PBJSON_D2(p + 14);
	ss = PBJSON_D2(p + 17);
	if (mon < 1 || mon > 12 || day < 1 || day > pbjson_days_in(year, mon) ||
	    hh > 23 || mm > 59 || ss > 59)
		goto bad;
	p += 19;
	if (end - p >= 2 && p[0] == '.' && p[1] >= '0' && p[1] <= '9') {
		for (p++, nd = 0; p < end && *p >= '0' && *p <= '9'; p++) {
			if (nd++ >= 9)
				goto bad;
			nanos = nanos * 10 + (*p - '0');
		}
		for (; nd < 9; nd++)
			nanos *= 10;
	}
	secs = pbjson_days_from_civil(year, mon, day) * 86400 + hh * 3600 +
	    mm * 60 + ss;
	if (end - p == 1 && *p == 'Z')
		p++;
	else if (end - p == 6 && (p[0] == '+' || p[0] == '-') &&
	    p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
	    p[3] == ':' && p[4] >= '0' && p[4] <= '9' && p[5] >= '0' &&
	    p[5] <= '9') {
		oh = PBJSON_D2(p + 1);
		om = PBJSON_D2(p + 4);
		if (oh > 23 || om > 59)
			goto bad;
		secs += (p[0] == '+' ? -1 : 1) * (oh * 3600 + om * 60);
		p += 6;
	} else
		goto bad;
#undef PBJSON_D2
	if (secs < PBJSON_TS_MIN || secs > PBJSON_TS_MAX)
		goto bad;
	pbjson_ts_fields(m->descriptor, &fs, &fn);
	if (fs != NULL)
		*(int64_t *)PBJSON_MEMBER(m, fs->offset) = secs;
	if (fn != NULL)
		*(int32_t *)PBJSON_MEMBER(m, fn->offset) = nanos;
	r = 0;
	goto out;
bad:
	if (f != NULL)
		r = pbjson_dec_invalid(d, f, tok);
	else
		r = pbjson_dec_error(d, tok, 0,
		    "invalid " PBJSON_TIMESTAMP " value %.*s",
		    (int)pbjson_dec_token_len(d, tok), (const char *)tok);
out:
	free(tmp);
	return r;
}

/* Read a JSON object into message m (freshly initialised). */
static int
pbjson_dec_object(struct pbjson_dec *d, ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	uint8_t small[64], *flags = small;
	const uint8_t *keytok, *key;
	struct pbjson_str ks;
	union pbjson_val v;
	char *kbuf = NULL, name[128];
	size_t klen, idx, j;
	int c, set, r = 0;

	if ((c = pbjson_dec_peek(d)) != '{') {
		if (c < 0)
			r = pbjson_dec_error(d, d->p, 1,
			    "unexpected end of input");
		else
			r = pbjson_dec_error(d, d->p, 1,
			    "unexpected token %.*s",
			    (int)pbjson_dec_token_len(d, d->p),
			    (const char *)d->p);
		goto out;
	}
	if (++d->depth > PBJSON_MAX_DEPTH) {
		r = pbjson_dec_error(d, d->p, 1,
		    "exceeded maximum nesting depth %d", PBJSON_MAX_DEPTH);
		goto out;
	}
	if (desc->n_fields > sizeof(small))
		flags = xcalloc(desc->n_fields, 1);
	else
		memset(small, 0, sizeof(small));
	d->p++;
	if (pbjson_dec_peek(d) == '}') {
		d->p++;
		d->depth--;
		goto out;
	}
	for (;;) {
		if (pbjson_dec_peek(d) != '"') {
			r = pbjson_dec_error(d, d->p, 1, "expected object key");
			goto out;
		}
		keytok = d->p;
		if ((r = pbjson_dec_string(d, &ks)) != 0)
			goto out;
		if (pbjson_dec_peek(d) != ':') {
			r = pbjson_dec_error(d, d->p, 1,
			    "expected ':' after object key");
			goto out;
		}
		d->p++;
		free(kbuf);
		kbuf = NULL;
		if (ks.esc) {
			kbuf = pbjson_str_dup(&ks, &klen);
			key = (const uint8_t *)kbuf;
		} else {
			key = ks.raw;
			klen = ks.len;
		}
		if ((f = pbjson_dec_field(desc, key, klen)) == NULL) {
			if ((r = pbjson_dec_skip(d)) != 0)
				goto out;
			goto next;
		}
		idx = (size_t)(f - desc->fields);
		if (flags[idx] & PBJSON_SEEN) {
			pbjson_json_name(f->name, name, sizeof(name));
			r = pbjson_dec_error(d, keytok, 0,
			    "duplicate field %s", name);
			goto out;
		}
		flags[idx] |= PBJSON_SEEN;
		pbjson_dec_peek(d);
		if (pbjson_dec_literal(d, "null"))
			goto next;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (pbjson_is_map(f))
				r = pbjson_dec_map(d, m, f);
			else
				r = pbjson_dec_repeated(d, m, f);
			if (r != 0)
				goto out;
			goto next;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			for (j = 0; j < desc->n_fields; j++) {
				if (!(desc->fields[j].flags &
				    PROTOBUF_C_FIELD_FLAG_ONEOF) ||
				    desc->fields[j].quantifier_offset !=
				    f->quantifier_offset ||
				    !(flags[j] & PBJSON_ONEOF))
					continue;
				pbjson_json_name(f->name, name, sizeof(name));
				r = pbjson_dec_error(d, keytok, 0,
				    "error parsing %s, oneof in %s is already "
				    "set", name, desc->name);
				goto out;
			}
			flags[idx] |= PBJSON_ONEOF;
		}
		set = 1;
		if ((r = pbjson_dec_value(d, f, &v, &set)) != 0)
			goto out;
		if (set)
			pbjson_commit(m, f, &v);
next:
		if ((c = pbjson_dec_peek(d)) == ',') {
			d->p++;
			continue;
		}
		if (c == '}') {
			d->p++;
			break;
		}
		r = pbjson_dec_error(d, d->p, 1, "expected ',' or '}'");
		goto out;
	}
	d->depth--;
out:
	free(kbuf);
	if (flags != small)
		free(flags);
	return r;
}

/* Read the JSON form of message m: an object, or a string for a Timestamp. */
static int
pbjson_dec_msg(struct pbjson_dec *d, const ProtobufCFieldDescriptor *f,
    ProtobufCMessage *m)
{
	if (pbjson_is_timestamp(m->descriptor))
		return pbjson_dec_timestamp(d, f, m);
	return pbjson_dec_object(d, m);
}

/*
 * Read one value of field f (the current token is not null) into *v, which
 * the caller then owns. *setp is cleared when the value is to be ignored
 * (an unknown enum name); nothing is allocated then.
 */
static int
pbjson_dec_value(struct pbjson_dec *d, const ProtobufCFieldDescriptor *f,
    union pbjson_val *v, int *setp)
{
	const ProtobufCMessageDescriptor *md;
	const ProtobufCEnumValue *ev;
	const uint8_t *tok;
	struct pbjson_str s;
	char *str;
	size_t len;
	int64_t iv = 0;
	uint64_t uv = 0;
	double dv = 0;
	int c, r = 0;

	memset(v, 0, sizeof(*v));
	if ((c = pbjson_dec_peek(d)) < 0) {
		r = pbjson_dec_error(d, d->p, 1, "unexpected end of input");
		goto out;
	}
	tok = d->p;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if ((r = pbjson_dec_integer(d, f, 32, 1, &iv, &uv)) == 0)
			v->i32 = (int32_t)iv;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if ((r = pbjson_dec_integer(d, f, 64, 1, &iv, &uv)) == 0)
			v->i64 = iv;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if ((r = pbjson_dec_integer(d, f, 32, 0, &iv, &uv)) == 0)
			v->u32 = (uint32_t)uv;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if ((r = pbjson_dec_integer(d, f, 64, 0, &iv, &uv)) == 0)
			v->u64 = uv;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		if ((r = pbjson_dec_float(d, f, 32, &dv)) == 0)
			v->f32 = (float)dv;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		if ((r = pbjson_dec_float(d, f, 64, &dv)) == 0)
			v->f64 = dv;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		if (pbjson_dec_literal(d, "true"))
			v->b = 1;
		else if (pbjson_dec_literal(d, "false"))
			v->b = 0;
		else
			r = pbjson_dec_invalid(d, f, tok);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		if (c == '"') {
			if ((r = pbjson_dec_string(d, &s)) != 0)
				break;
			str = pbjson_str_dup(&s, &len);
			ev = protobuf_c_enum_descriptor_get_value_by_name(
			    f->descriptor, str);
			if (ev != NULL && strlen(str) == len)
				v->e = ev->value;
			else
				*setp = 0;
			free(str);
			break;
		}
		if ((r = pbjson_dec_integer(d, f, 32, 1, &iv, &uv)) == 0)
			v->e = (int)iv;
		break;
	case PROTOBUF_C_TYPE_STRING:
		if (c != '"') {
			r = pbjson_dec_invalid(d, f, tok);
			break;
		}
		if ((r = pbjson_dec_string(d, &s)) != 0)
			break;
		str = pbjson_str_dup(&s, &len);
		if (memchr(str, '\0', len) != NULL) {
			free(str);
			r = pbjson_dec_invalid(d, f, tok);
			break;
		}
		v->s = str;
		break;
	case PROTOBUF_C_TYPE_BYTES:
		if (c != '"') {
			r = pbjson_dec_invalid(d, f, tok);
			break;
		}
		if ((r = pbjson_dec_string(d, &s)) != 0)
			break;
		str = pbjson_str_dup(&s, &len);
		if (pbjson_b64_decode((const uint8_t *)str, len, &v->bd.data,
		    &v->bd.len) != 0)
			r = pbjson_dec_invalid(d, f, tok);
		free(str);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		md = f->descriptor;
		if (!pbjson_is_timestamp(md) && c != '{') {
			r = pbjson_dec_invalid(d, f, tok);
			break;
		}
		v->m = xmalloc(md->sizeof_message);
		md->message_init(v->m);
		if ((r = pbjson_dec_msg(d, f, v->m)) != 0) {
			protobuf_c_message_free_unpacked(v->m, NULL);
			v->m = NULL;
		}
		break;
	default:
		r = pbjson_dec_invalid(d, f, tok);
		break;
	}
out:
	return r;
}

/* Free a value read by pbjson_dec_value() that was not stored. */
static void
pbjson_free_val(const ProtobufCFieldDescriptor *f, union pbjson_val *v)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		free(v->s);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		free(v->bd.data);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		protobuf_c_message_free_unpacked(v->m, NULL);
		break;
	default:
		break;
	}
	memset(v, 0, sizeof(*v));
}

/*
 * Store value v into singular field f of m and mark it present; m takes
 * ownership. The field is known to be unset.
 *
 * An empty string of an implicit-presence field shares
 * protobuf_c_empty_string, which free_unpacked() never frees. A oneof or
 * optional member keeps its own allocation even when empty: protobuf-c's
 * packer treats a member that points at the default as absent, which would
 * drop the presence the JSON carried ("symlinkTarget":"").
 */
static void
pbjson_commit(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    union pbjson_val *v)
{
	void *slot = PBJSON_MEMBER(m, f->offset);

	if (f->type == PROTOBUF_C_TYPE_STRING && v->s[0] == '\0' &&
	    f->label == PROTOBUF_C_LABEL_NONE &&
	    !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    f->default_value == (const void *)protobuf_c_empty_string) {
		free(v->s);
		v->s = (char *)protobuf_c_empty_string;
	}
	memcpy(slot, v, pbjson_elt_size(f->type));
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)PBJSON_MEMBER(m, f->quantifier_offset) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
	    f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)PBJSON_MEMBER(m,
		    f->quantifier_offset) = 1;
	memset(v, 0, sizeof(*v));
}

/* Read a JSON array into repeated field f of m (empty so far). */
static int
pbjson_dec_repeated(struct pbjson_dec *d, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f)
{
	size_t *np = PBJSON_MEMBER(m, f->quantifier_offset);
	char **arrp = PBJSON_MEMBER(m, f->offset);
	size_t cap = 0, sz = pbjson_elt_size(f->type);
	union pbjson_val v;
	int c, set, r = 0;

	if (pbjson_dec_peek(d) != '[') {
		r = pbjson_dec_invalid(d, f, d->p);
		goto out;
	}
	if (++d->depth > PBJSON_MAX_DEPTH) {
		r = pbjson_dec_error(d, d->p, 1,
		    "exceeded maximum nesting depth %d", PBJSON_MAX_DEPTH);
		goto out;
	}
	d->p++;
	if (pbjson_dec_peek(d) == ']') {
		d->p++;
		d->depth--;
		goto out;
	}
	for (;;) {
		set = 1;
		if ((r = pbjson_dec_value(d, f, &v, &set)) != 0)
			goto out;
		if (set) {
			if (*np == cap) {
				cap = cap ? cap * 2 : 4;
				*arrp = xreallocarray(*arrp, cap, sz);
			}
			memcpy(*arrp + *np * sz, &v, sz);
			(*np)++;
		}
		if ((c = pbjson_dec_peek(d)) == ',') {
			d->p++;
			continue;
		}
		if (c == ']') {
			d->p++;
			break;
		}
		r = pbjson_dec_error(d, d->p, 1, "expected ',' or ']'");
		goto out;
	}
	d->depth--;
out:
	return r;
}

/*
 * Convert the object key ks (token at tok) to a value of map key field kf,
 * as protojson does: strings as is, bools as "true"/"false", integers in
 * decimal with an optional sign for signed types.
 */
static int
pbjson_dec_map_key(struct pbjson_dec *d, const ProtobufCFieldDescriptor *kf,
    const struct pbjson_str *ks, const uint8_t *tok, union pbjson_val *v)
{
	char *key;
	size_t len, i = 0;
	uint64_t mag = 0, lim;
	int neg = 0, r = 0;

	memset(v, 0, sizeof(*v));
	key = pbjson_str_dup(ks, &len);
	if (kf->type == PROTOBUF_C_TYPE_STRING) {
		if (memchr(key, '\0', len) != NULL)
			goto bad;
		v->s = key;
		key = NULL;
		goto out;
	}
	if (kf->type == PROTOBUF_C_TYPE_BOOL) {
		if (strcmp(key, "true") == 0 && len == 4)
			v->b = 1;
		else if (strcmp(key, "false") != 0 || len != 5)
			goto bad;
		goto out;
	}
	if (pbjson_key_kind(kf->type) == PBJSON_KEY_INT && len > 0 &&
	    (key[0] == '-' || key[0] == '+')) {
		neg = key[0] == '-';
		i = 1;
	}
	if (i == len)
		goto bad;
	for (; i < len; i++) {
		if (key[i] < '0' || key[i] > '9' ||
		    mag > (UINT64_MAX - (uint64_t)(key[i] - '0')) / 10)
			goto bad;
		mag = mag * 10 + (uint64_t)(key[i] - '0');
	}
	switch (kf->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		lim = (uint64_t)1 << (pbjson_elt_size(kf->type) * 8 - 1);
		if (neg ? mag > lim : mag >= lim)
			goto bad;
		if (pbjson_elt_size(kf->type) == 4)
			v->i32 = neg ? (int32_t)(0 - (uint32_t)mag) :
			    (int32_t)mag;
		else
			v->i64 = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (mag > UINT32_MAX)
			goto bad;
		v->u32 = (uint32_t)mag;
		break;
	default:
		v->u64 = mag;
		break;
	}
	goto out;
bad:
	r = pbjson_dec_error(d, tok, 0, "invalid value for %s key: %.*s",
	    pbjson_kind(kf->type), (int)pbjson_dec_token_len(d, tok),
	    (const char *)tok);
out:
	free(key);
	return r;
}

/*
 * Read a JSON object into map field f of m (empty so far). Entries keep
 * the input order; a key given twice is an error, as in protojson.
 */
static int
pbjson_dec_map(struct pbjson_dec *d, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *md = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &md->fields[0];
	const ProtobufCFieldDescriptor *vf = &md->fields[1];
	size_t *np = PBJSON_MEMBER(m, f->quantifier_offset);
	ProtobufCMessage ***arrp = PBJSON_MEMBER(m, f->offset);
	ProtobufCMessage *entry = NULL;
	struct pbjson_mapent *ents = NULL;
	const uint8_t *start, *keytok;
	struct pbjson_str ks;
	union pbjson_val kv, v;
	size_t cap = 0, i;
	int c, set, r = 0;

	if (pbjson_dec_peek(d) != '{') {
		r = pbjson_dec_invalid(d, f, d->p);
		goto out;
	}
	start = d->p;
	if (++d->depth > PBJSON_MAX_DEPTH) {
		r = pbjson_dec_error(d, d->p, 1,
		    "exceeded maximum nesting depth %d", PBJSON_MAX_DEPTH);
		goto out;
	}
	d->p++;
	if (pbjson_dec_peek(d) == '}') {
		d->p++;
		d->depth--;
		goto out;
	}
	for (;;) {
		if (pbjson_dec_peek(d) != '"') {
			r = pbjson_dec_error(d, d->p, 1, "expected object key");
			goto out;
		}
		keytok = d->p;
		if ((r = pbjson_dec_string(d, &ks)) != 0)
			goto out;
		if (pbjson_dec_peek(d) != ':') {
			r = pbjson_dec_error(d, d->p, 1,
			    "expected ':' after object key");
			goto out;
		}
		d->p++;
		entry = xmalloc(md->sizeof_message);
		md->message_init(entry);
		if ((r = pbjson_dec_map_key(d, kf, &ks, keytok, &kv)) != 0)
			goto out;
		pbjson_commit(entry, kf, &kv);
		set = 1;
		if ((r = pbjson_dec_value(d, vf, &v, &set)) != 0)
			goto out;
		if (set) {
			pbjson_commit(entry, vf, &v);
			if (*np == cap) {
				cap = cap ? cap * 2 : 4;
				*arrp = xreallocarray(*arrp, cap,
				    sizeof(**arrp));
			}
			(*arrp)[(*np)++] = entry;
			entry = NULL;
		} else {
			pbjson_free_val(vf, &v);
			protobuf_c_message_free_unpacked(entry, NULL);
			entry = NULL;
		}
		if ((c = pbjson_dec_peek(d)) == ',') {
			d->p++;
			continue;
		}
		if (c == '}') {
			d->p++;
			break;
		}
		r = pbjson_dec_error(d, d->p, 1, "expected ',' or '}'");
		goto out;
	}
	d->depth--;
	if (*np < 2)
		goto out;
	ents = xreallocarray(NULL, *np, sizeof(*ents));
	pbjson_map_sort(md, *arrp, *np, ents);
	for (i = 0; i + 1 < *np; i++) {
		if (pbjson_mapent_cmp(&ents[i], &ents[i + 1],
		    pbjson_key_kind(kf->type)) == 0) {
			r = pbjson_dec_error(d, start, 0,
			    "duplicate map key in field %s", f->name);
			goto out;
		}
	}
out:
	free(ents);
	if (entry != NULL)
		protobuf_c_message_free_unpacked(entry, NULL);
	return r;
}

/* Find the field named key: JSON names first, then proto names. */
static const ProtobufCFieldDescriptor *
pbjson_dec_field(const ProtobufCMessageDescriptor *desc, const uint8_t *key,
    size_t klen)
{
	const ProtobufCFieldDescriptor *f;
	unsigned i;

	for (i = 0; i < desc->n_fields; i++) {
		f = &desc->fields[i];
		if (pbjson_camel_eq(f->name, key, klen))
			return f;
	}
	for (i = 0; i < desc->n_fields; i++) {
		f = &desc->fields[i];
		if (strlen(f->name) == klen && memcmp(f->name, key, klen) == 0)
			return f;
	}
	return NULL;
}

/* Decode a JSON document into a new message of type desc. */
static int
pbjson_dec_json(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
    size_t len, ProtobufCMessage **out, char **errmsg)
{
	struct pbjson_dec d;
	ProtobufCMessage *m = NULL;
	int r;

	memset(&d, 0, sizeof(d));
	if (len == 0) {
		d.err = xstrdup("zero-length payload is not a valid JSON "
		    "object");
		r = -EINVAL;
		goto out;
	}
	d.start = d.p = data;
	d.end = data + len;
	m = xmalloc(desc->sizeof_message);
	desc->message_init(m);
	if ((r = pbjson_dec_msg(&d, NULL, m)) != 0)
		goto out;
	if (pbjson_dec_peek(&d) >= 0) {
		r = pbjson_dec_error(&d, d.p, 1, "unexpected token %.*s",
		    (int)pbjson_dec_token_len(&d, d.p), (const char *)d.p);
		goto out;
	}
	*out = m;
	m = NULL;
	r = 0;
out:
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
	*errmsg = d.err;
	return r;
}

/* --- binary --- */

/*
 * Finish the checks protobuf_c_message_unpack() leaves out: every string
 * must be valid UTF-8, as proto3 requires, and every field number must be
 * in 1..2^29-1 (protobuf-c keeps an over-long encoding of field 0 as an
 * unknown field, then cannot read its own re-encoding of it).
 */
static int
pbjson_check_unpacked(const ProtobufCMessage *m, char **errmsg)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	const uint8_t *s;
	const void *slot;
	size_t n, i, k, len, step;
	unsigned j;
	int r = 0;

	for (j = 0; j < m->n_unknown_fields; j++) {
		if (m->unknown_fields[j].tag == 0 ||
		    m->unknown_fields[j].tag > 0x1fffffff) {
			*errmsg = xstrdup("proto: cannot parse invalid "
			    "wire-format data");
			r = -EINVAL;
			goto out;
		}
	}
	for (j = 0; j < desc->n_fields; j++) {
		f = &desc->fields[j];
		if (f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)PBJSON_CMEMBER(m,
		    f->quantifier_offset) != f->id)
			continue;
		slot = PBJSON_CMEMBER(m, f->offset);
		n = 1;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)PBJSON_CMEMBER(m,
			    f->quantifier_offset);
			slot = *(void *const *)slot;
			if (slot == NULL)
				continue;
		}
		for (i = 0; i < n; i++) {
			if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				const ProtobufCMessage *sub =
				    ((const ProtobufCMessage *const *)slot)[i];
				if (sub != NULL &&
				    (r = pbjson_check_unpacked(sub,
				    errmsg)) != 0)
					goto out;
				continue;
			}
			s = ((const uint8_t *const *)slot)[i];
			if (s == NULL)
				continue;
			len = strlen((const char *)s);
			for (k = 0; k < len; k += step) {
				step = 1;
				if (s[k] >= 0x80 &&
				    (step = pbjson_utf8_len(s + k,
				    len - k)) == 0) {
					*errmsg = xasprintf("proto: field "
					    "%s.%s contains invalid UTF-8",
					    desc->name, f->name);
					r = -EINVAL;
					goto out;
				}
			}
		}
	}
out:
	return r;
}

/* Decode binary wire data into a new message of type desc. */
static int
pbjson_dec_proto(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
    size_t len, ProtobufCMessage **out, char **errmsg)
{
	static const uint8_t empty[1];
	ProtobufCMessage *m;
	int r;

	m = protobuf_c_message_unpack(desc, NULL, len,
	    data != NULL ? data : empty);
	if (m == NULL) {
		*errmsg = xstrdup("proto: cannot parse invalid wire-format "
		    "data");
		r = -EINVAL;
		goto out;
	}
	if ((r = pbjson_check_unpacked(m, errmsg)) != 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		goto out;
	}
	*out = m;
out:
	return r;
}

/* --- public API --- */

int
pbjson_decode(const ProtobufCMessageDescriptor *desc, enum pbjson_codec codec,
    const void *data, size_t len, ProtobufCMessage **out, char **errmsg)
{
	ProtobufCMessage *m = NULL;
	char *err = NULL;
	int r;

	*out = NULL;
	if (errmsg != NULL)
		*errmsg = NULL;
	if (data == NULL && len != 0) {
		err = xstrdup("no data");
		r = -EINVAL;
		goto out;
	}
	switch (codec) {
	case PBJSON_JSON:
		r = pbjson_dec_json(desc, data, len, &m, &err);
		break;
	case PBJSON_PROTO:
		r = pbjson_dec_proto(desc, data, len, &m, &err);
		break;
	default:
		err = xstrdup("unknown codec");
		r = -EINVAL;
		break;
	}
	if (r != 0)
		goto out;
	*out = m;
	m = NULL;
out:
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
	if (errmsg != NULL) {
		*errmsg = err;
		err = NULL;
	}
	free(err);
	return r;
}

int
pbjson_encode(const ProtobufCMessage *msg, enum pbjson_codec codec,
    struct buf *out)
{
	size_t saved = out->len;
	int r;

	switch (codec) {
	case PBJSON_JSON:
		r = pbjson_enc_message(out, msg);
		break;
	case PBJSON_PROTO:
		r = pbjson_enc_proto(msg, out);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r != 0)
		out->len = saved;
	return r;
}

void
pbjson_free(ProtobufCMessage *msg)
{
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
}
