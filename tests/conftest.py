"""Suite-wide settings: caches (digits classifier, Inception reference features) go to a
temporary directory, so tests never read or write the user's ~/.cache/gan_jax."""

import os
import tempfile

os.environ.setdefault("GAN_JAX_CACHE", tempfile.mkdtemp(prefix="gan_jax_test_cache_"))
