"""onebudget: one pooled individual budget, every agency's penny accounted for."""
