"""Data sources every stage may read: the Universal Declaration of Human Rights (`udhr`)."""
