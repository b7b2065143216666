/* SPDX-License-Identifier: MIT */
/* Name rules of DESIGN.md section 1 (fs/name.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../fs/fs.h"
#include "../../fs/fs_int.h"

static struct fs F = { .lock = PTHREAD_MUTEX_INITIALIZER };

Test(name, project_and_artifact_names)
{
	const char *why = NULL;
	char long_ok[129], too_long[130];

	memset(long_ok, 'a', 128);
	long_ok[128] = '\0';
	memset(too_long, 'a', 129);
	too_long[129] = '\0';
	cr_expect_eq(fs_name_check_pa("churn", &why), 0);
	cr_expect_eq(fs_name_check_pa("Model_v2.1-final", &why), 0);
	cr_expect_eq(fs_name_check_pa(long_ok, &why), 0);
	cr_expect_eq(fs_name_check_pa(too_long, &why), EINVAL);
	cr_expect_eq(fs_name_check_pa("", &why), EINVAL);
	cr_expect_eq(fs_name_check_pa(".hidden", &why), EINVAL);
	cr_expect_eq(fs_name_check_pa("@v1", &why), EINVAL);
	cr_expect_eq(fs_name_check_pa("a b", &why), EINVAL);
	cr_expect_eq(fs_name_check_pa("a/b", &why), EINVAL);
	cr_expect_eq(fs_name_check_pa("caf\xc3\xa9", &why), EINVAL);
	cr_expect_not_null(why);
}

Test(name, tag_names)
{
	const char *why = NULL;

	cr_expect_eq(fs_name_check_tag("prod", &why), 0);
	cr_expect_eq(fs_name_check_tag("v2-candidate", &why), 0);
	cr_expect_eq(fs_name_check_tag("v", &why), 0);
	cr_expect_eq(fs_name_check_tag("latest", &why), EPERM);
	cr_expect_eq(fs_name_check_tag("v12", &why), EINVAL);
	cr_expect_eq(fs_name_check_tag("", &why), EINVAL);
	cr_expect_eq(fs_name_check_tag("a:b", &why), EINVAL);
}

/* Attribute keys (fs/attrs.c, docs/store-format.md "Attributes"). */
Test(attrs, markers)
{
	struct fs_attr_owner o = { .where = FA_ARTIFACT, .project = "p", .artifact = "a" };
	char key[600];

	cr_expect_eq(fs_attr_marker_key(&o, key, sizeof(key)), 0);
	cr_expect_str_eq(key, "meta/p/a/artifact.json");
	memset(&o, 0, sizeof(o));
	cr_expect_eq(fs_attr_marker_parse("meta/p/a/artifact.json", &o), 0);
	cr_expect_eq(o.where, FA_ARTIFACT);
	cr_expect_str_eq(o.project, "p");
	cr_expect_str_eq(o.artifact, "a");
	cr_expect_eq(fs_attr_marker_parse("meta/p/project.json", &o), 0);
	cr_expect_eq(o.where, FA_PROJECT);
	cr_expect_eq(fs_attr_marker_parse("meta/p/a/versions/00000000000000000001.json", &o),
		     ENOENT);
	cr_expect_eq(fs_attr_marker_parse("meta/.p/project.json", &o), ENOENT);
	cr_expect_eq(fs_attr_marker_parse("meta/p/@attrs/project.json", &o), ENOENT);
	cr_expect_eq(fs_attr_marker_parse("versions/p/a/artifact.json", &o), ENOENT);
}

Test(attrs, key_length)
{
	struct fs_attr_owner o = { .where = FA_VERSION, .n = 1 };
	char name[300];

	memset(o.project, 'p', META_PA_MAX);
	memset(o.artifact, 'a', META_PA_MAX);
	/* 255 safe bytes fit; 255 bytes that each take %XX do not, with names this long */
	memcpy(name, "user.label.", 11);
	memset(name + 11, 'k', 244);
	name[255] = '\0';
	cr_expect_eq(fs_attr_key_check(&o, name), 0);
	memset(name + 11, ' ', 244);
	cr_expect_eq(fs_attr_key_check(&o, name), ENAMETOOLONG);
	o.project[1] = o.artifact[1] = '\0';
	cr_expect_eq(fs_attr_key_check(&o, name), 0);
}

/* What a commit that cuts unlocked asks: was the staging file written since its cut began? */
Test(draft, writes_since_a_cut)
{
	struct fs_open *o, *w;
	uint64_t seq;

	o = fs_open_hold(&F, 77);
	cr_assert_not_null(o);
	fs_write_begin(&F, o);
	fs_write_end(&F, o);
	seq = fs_write_seq(&F);
	cr_expect_not(fs_written_since(&F, 77, seq), "a write before the cut counts");
	fs_write_begin(&F, o);
	cr_expect(fs_written_since(&F, 77, seq), "a write running now does not count");
	fs_write_end(&F, o);
	cr_expect(fs_written_since(&F, 77, seq), "a write that ended after the cut began does not count");
	cr_expect_not(fs_written_since(&F, 78, seq));
	/* A file closed while a commit runs keeps its record until the commit ends. */
	fs_commits_running(&F, 1);
	seq = fs_write_seq(&F);
	w = fs_write_hold(&F, 79);
	cr_assert_not_null(w);
	fs_write_drop(&F, w);
	cr_expect(fs_written_since(&F, 79, seq), "a truncate by path was forgotten at once");
	fs_commits_running(&F, -1);
	cr_expect_not(fs_written_since(&F, 79, seq), "the record outlived the commit");
	cr_expect_eq(fs_open_release(&F, o), 0);
	fs_free_deferred(&F, 77);
	cr_expect_eq(fs_open_count(&F, 77), 0);
}
