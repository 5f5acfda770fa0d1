/* The auxiliary vector: /proc/self/auxv (mm->saved_auxv) and the copy on the stack. */
#include "zdtmtst.h"
#include <elf.h>
#include <string.h>
#include <sys/auxv.h>

int main(int argc, char **argv, char **envp)
{
	static char saved[4096], now[4096];
	Elf64_auxv_t *stack_auxv, saved_stack[64];
	ssize_t len, len2;
	int n = 0, i;
	char **e = envp;
	unsigned long pagesz, hwcap, uid_in_auxv;

	while (*e)
		e++;
	stack_auxv = (Elf64_auxv_t *)(e + 1);
	while (stack_auxv[n].a_type != AT_NULL && n < 63)
		n++;
	n++;	/* with AT_NULL */

	test_init(argc, argv);
	len = read_file("/proc/self/auxv", saved, sizeof(saved));
	if (len <= 0)
		fail("can't read /proc/self/auxv");
	memcpy(saved_stack, stack_auxv, n * sizeof(*stack_auxv));
	pagesz = getauxval(AT_PAGESZ);
	hwcap = getauxval(AT_HWCAP);
	uid_in_auxv = getauxval(AT_UID);
	test_daemon();
	if (test_break()) {
		for (i = 0; i < n; i++)
			if (stack_auxv[i].a_type == AT_UID)
				stack_auxv[i].a_un.a_val ^= 0x5a5a;
		test_msg("break: changed AT_UID on the stack");
	}
	test_waitsig();

	len2 = read_file("/proc/self/auxv", now, sizeof(now));
	if (len2 != len || memcmp(saved, now, len))
		fail("/proc/self/auxv changed (%zd -> %zd bytes)", len, len2);
	for (i = 0; i < n; i++)
		if (stack_auxv[i].a_type != saved_stack[i].a_type ||
		    stack_auxv[i].a_un.a_val != saved_stack[i].a_un.a_val)
			fail("auxv entry %d on the stack: type %lu value %#lx, expected type %lu value %#lx", i,
			     stack_auxv[i].a_type, stack_auxv[i].a_un.a_val,
			     saved_stack[i].a_type, saved_stack[i].a_un.a_val);
	if (getauxval(AT_PAGESZ) != pagesz || getauxval(AT_HWCAP) != hwcap || getauxval(AT_UID) != uid_in_auxv)
		fail("getauxval() values changed");
	if (n * sizeof(Elf64_auxv_t) > (size_t)len || memcmp(saved, saved_stack, n * sizeof(Elf64_auxv_t)))
		fail("the stack auxv differs from /proc/self/auxv");
	pass();
}
