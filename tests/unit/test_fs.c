/* SPDX-License-Identifier: MIT */
/* Name rules of DESIGN.md section 1 (fs/name.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../fs/fs.h"
#include "../../fs/fs_int.h"

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
