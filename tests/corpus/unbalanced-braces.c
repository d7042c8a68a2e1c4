void f(struct s *x)
{
	if (x) {
		x->n++;
#ifdef CONFIG_X
	}
#endif
	x->n--;
}}}}
#define M(a) do { (a)->n++; } while (0
