/* SPDX-License-Identifier: MIT */
/* Name rules of DESIGN.md section 1 (fs/name.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../fs/fs.h"

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
