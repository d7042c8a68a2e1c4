struct s { int n; spinlock_t lock; };
void f(struct s *x)
{
	spin_lock(&x->lock);
	x->n++; /* ÿþ café */
	spin_unlock(&x->lock);
}
