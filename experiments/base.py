"""The shared base config every experiment derives from.

An experiment file imports ``get_base_config``, changes a dozen fields, and calls
``finalize(config, arg)`` so that ``--config=experiments/x.py:tiny`` shrinks it to a run
of seconds on one CPU core.
"""

import ml_collections
from ml_collections.config_dict import placeholder


def optimizer(
  name: str = "adam", lr: float = 2e-4, b1: float = 0.5, b2: float = 0.999, **schedule
) -> ml_collections.ConfigDict:
  """One network's optimizer entry (``config.optim.<network or role>``)."""
  c = ml_collections.ConfigDict({"name": name, "lr": lr, "b1": b1, "b2": b2})
  c.schedule = "constant"
  c.decay_start = 0
  c.decay_end = 0
  c.milestones = ()
  c.gamma = 0.5
  c.update(schedule)
  return c


def lazy_optimizer(
  lr: float, b1: float, b2: float, interval: int, **schedule
) -> ml_collections.ConfigDict:
  """The Adam entry of a network with a lazy regulariser every ``interval`` steps: learning
  rate ``lr * c`` and betas ``b ** c`` with ``c = interval / (interval + 1)``, so that the
  main and regularisation updates together move as the unregularised optimizer would
  (Karras et al. 2020, StyleGAN2, Appendix B; ``training_loop.py``'s ``mb_ratio``)."""
  c = interval / (interval + 1)
  return optimizer(lr=lr * c, b1=b1**c, b2=b2**c, **schedule)


def get_base_config() -> ml_collections.ConfigDict:
  """Defaults: DCGAN on the embedded digits with the non-saturating loss."""
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  # digits | lfw | ring | grid | synthetic (embedded); mnist | fashion_mnist | cifar10 |
  # svhn_cropped | celeb_a | tfds (TFDS, prepared data_dir); folder (your own images)
  c.data.name = "digits"
  c.data.batch_size = 64  # global, over all devices and processes
  c.data.resolution = 32
  c.data.channels = 3  # synthetic and folder (1: grayscale); the others fix their channels
  c.data.num_classes = 0  # synthetic only
  c.data.random_flip = False  # random horizontal flips, a pure function of (seed, step)
  c.data.random_rotate = False  # SR sources: vertical flips and transpositions too
  c.data.crop = placeholder(int)  # centered square side before resizing; None: dataset's
  # TFDS: data_dir None -> $TFDS_DATA_DIR or ~/tensorflow_datasets; nothing is downloaded
  # unless download=True (else prepare once: tfds build NAME --data_dir=DIR).
  c.data.data_dir = placeholder(str)
  c.data.download = False
  c.data.split = "train"  # any TFDS split string, e.g. "train+validation+test"
  c.data.shuffle_buffer = 10_000  # examples (undecoded) in tf.data's shuffle buffer
  c.data.tfds_name = ""  # data.name="tfds" only: any TFDS image dataset
  c.data.image_key = "image"  # data.name="tfds" only
  c.data.label_key = ""  # data.name="tfds" only; "" for unlabelled
  # folder: a directory of JPEG/PNG images, or of one subfolder per class.
  c.data.folder = ""
  c.data.on_bad_file = "skip"  # skip (count and warn) | fail
  c.data.num_workers = 0  # folder decoding threads; 0: min(8, CPU count)
  # Paired data (edges2digits | gray2color | paired_folder | paired_folders): input ->
  # target. paired_folder reads data.folder/{train,val,test}/ of A|B side-by-side images.
  c.data.direction = "AtoB"  # AtoB | BtoA
  c.data.load_size = 0  # resize before the random crop (0: the source's default; 286 at 256)
  c.data.eval_split = "val"  # paired_folder / sr_folder: held-out subfolder (else test/)
  c.data.folder_a = ""  # paired_folders: same-named files in two folders
  c.data.folder_b = ""
  c.data.eval_folder_a = ""
  c.data.eval_folder_b = ""

  c.game = ml_collections.ConfigDict()
  # gan | pix2pix | cyclegan | unrolled | srresnet | srgan | esrgan | stylegan2
  c.game.name = "gan"
  c.game.n_critic = 1  # discriminator updates per generator update
  # gan: generator updates per step, after D's, each with fresh codes (2: the DCGAN
  # TensorFlow code of PacGAN's Table 2, "run g_optim twice", there with the same codes).
  c.game.g_steps = 1
  c.game.g_same_codes = False  # gan: the g_steps updates all draw the first one's codes
  c.game.l1_weight = 100.0  # pix2pix: lambda of the L1 term
  c.game.adv_weight = 1.0  # pix2pix: weight of the adversarial term (0: L1 only)
  c.game.cycle_weight = 10.0  # cyclegan: lambda of the cycle-consistency terms
  c.game.identity_weight = 0.5  # cyclegan: identity terms, times cycle_weight (0: off)
  c.game.pool_size = 50  # cyclegan: past fakes per domain that D learns on
  # Sampling and evaluation recompute G's BatchNorm statistics over this many batches of
  # data.batch_size fresh samples (BigGAN's standing statistics; 0: the running ones).
  c.game.standing_stats = 0
  c.game.unroll_steps = 5  # unrolled: look-ahead updates of D in G's loss
  c.game.unroll_first_order = False  # unrolled: hold the unrolled D constant in G's gradient
  # Super-resolution (srresnet | srgan | esrgan): G's loss is pixel_weight x pixel_loss +
  # perceptual_weight x perceptual_loss of VGG features (model.vgg_layer) + adv_weight x GAN.
  c.game.pixel_loss = "mse"  # mse | l1
  c.game.pixel_weight = 1.0
  c.game.perceptual_weight = 0.0
  c.game.perceptual_loss = "mse"  # mse (SRGAN) | l1 (ESRGAN)
  # stylegan2: lazy R1 (gamma / 2, every r1_interval steps), path length (pl_weight, every
  # pl_interval steps on batch / pl_batch_shrink, pl_mean moving by pl_decay), style mixing.
  c.game.r1_gamma = 10.0
  c.game.r1_interval = 16
  c.game.pl_weight = 2.0
  c.game.pl_interval = 4
  c.game.pl_batch_shrink = 2
  c.game.pl_decay = 0.01
  c.game.style_mixing = 0.9

  c.model = ml_collections.ConfigDict()
  c.model.name = "dcgan"  # dcgan | dcgan28 | mlp | pix2pix | cyclegan | sngan | biggan | sr
  c.model.z_dim = 100
  c.model.z_dist = "normal"  # normal | uniform
  c.model.dtype = "float32"  # compute dtype; parameters stay float32
  c.model.width = 64
  c.model.max_width = 1024
  c.model.d_norm = "batch"  # batch | layer | none
  c.model.hidden = (256, 256)  # mlp only
  # mlp: G BatchNorm (none | batch), D layers (dense | maxout: PacGAN's LinearMaxout with
  # maxout_pieces pieces, d_hidden units; () = hidden), kernel init (default | N02).
  c.model.g_norm = "none"
  c.model.d_layer = "dense"
  c.model.d_hidden = ()
  c.model.maxout_pieces = 5
  c.model.mlp_init = "default"  # default | N02 | ortho_1.4
  c.model.mlp_activation = ""  # relu | leaky_relu | tanh ("": ReLU in G, LeakyReLU in D)
  # dcgan / mlp D: a minibatch layer before the logit against mode collapse: none |
  # stddev (Karras et al. 2018) | discrimination (Salimans et al. 2016).
  c.model.d_minibatch = "none"
  c.model.conditional = False  # class-conditional G and projection D when labels exist
  c.model.pack = 1  # PacGAN: D judges packs of this many samples (classic game)
  # pix2pix: U-Net G (num_downs 0: log2 of the side) and PatchGAN / PixelGAN D.
  c.model.num_downs = 0
  c.model.norm = "batch"  # batch | instance | none (cyclegan's configs: instance)
  c.model.dropout = True
  c.model.d_arch = "patch"  # patch | pixel
  c.model.n_layers = 3  # PatchGAN depth: 3 gives the 70x70 receptive field
  c.model.n_blocks = 9  # cyclegan: residual blocks of the ResNet generators (6 for 128 px)
  # sngan / biggan (ResNet G and D; sngan's widths: model.g_width / d_width, 0 the paper's).
  c.model.attention = 0  # biggan: self-attention at this side (0: none)
  c.model.cond = "shared"  # biggan G: shared (class embedding) | onehot (a table per block)
  c.model.shared_dim = 0  # biggan: shared embedding size (0: z_dim)
  c.model.hier = False  # biggan: hierarchical latents (z chunks into every block)
  c.model.init = "ortho"  # biggan: ortho | N02 | glorot
  c.model.d_wide = True  # biggan: D's hidden widths are the block's output width
  # sr: G srresnet | msrresnet | rrdbnet, D srgan | vgg_style, upscaling factor, the VGG19
  # layer of the perceptual loss ("" none; relu5_4 is SRGAN's VGG54, conv5_4 ESRGAN's).
  c.model.g_arch = "srresnet"
  c.model.scale = 4
  c.model.vgg_layer = ""

  c.loss = ml_collections.ConfigDict()
  c.loss.name = "non_saturating"  # minimax | non_saturating | wasserstein | hinge | ...
  c.loss.penalty = "none"  # none | gradient_penalty | dragan | r1 | r2
  c.loss.penalty_weight = 10.0  # lambda for gradient_penalty / dragan, gamma for r1 / r2
  c.loss.clip = 0.0  # WGAN weight clipping c (0: off)
  # BigGAN's orthogonal regularisation beta * sum ||W^T W * (1 - I)||^2 of G's / D's
  # weights (G's shared class embedding excluded); 0: off. Paper: 1e-4 for G.
  c.loss.g_ortho = 0.0
  c.loss.d_ortho = 0.0

  # One entry per network or role (a network without its own entry uses its role's: g, d).
  # schedule: constant | linear (to 0 from decay_start to decay_end, 0: train.num_steps)
  # | multistep (times gamma at each of milestones); in global steps.
  # Differentiable augmentation of everything D sees (classic game): none | diffaugment.
  c.augment = ml_collections.ConfigDict()
  c.augment.name = "none"
  c.augment.policy = "color,translation,cutout"  # DiffAugment's groups, applied in order
  # ada (stylegan2): p starts at ada_p and every ada_interval steps moves by
  # batch * interval / (ada_kimg * 1000) toward E[sign D(real)] = ada_target.
  c.augment.ada_p = 0.0
  c.augment.ada_target = 0.6
  c.augment.ada_interval = 4
  c.augment.ada_kimg = 500.0
  c.augment.ada_resample = "sym6"  # sym6 (the reference's filters) | bilinear (faster)

  c.optim = ml_collections.ConfigDict()
  c.optim.g = optimizer()
  c.optim.d = optimizer()
  c.optim.ema_decay = 0.999
  c.optim.ema_start = 0  # the EMA copies the weights before this step
  # StyleGAN2's EMA: a half-life of ema_kimg thousand images (0: ema_decay above), with
  # ema_rampup: the half-life is at most ema_rampup x the images seen so far.
  c.optim.ema_kimg = 0.0
  c.optim.ema_rampup = 0.0

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 2000
  c.train.steps_per_call = 1  # iterations per compiled call (lax.scan) for tiny models
  c.train.log_every = 100
  c.train.sample_every = 500
  c.train.checkpoint_every = 1000
  c.train.eval_every = 0  # 0: evaluate only via --mode=eval
  c.train.keep_checkpoints = 3
  c.train.keep_period = 0  # also keep every K-th step's checkpoint (0: off)
  c.train.num_samples = 64  # images in the fixed-z sample grid
  c.train.nan_policy = "stop"  # stop | skip
  c.train.allow_config_change = False
  # Start named networks from another run's newest checkpoint (a fresh run only), e.g.
  # a GAN's generator from a run that pre-trained it: init_from=WORKDIR, init_networks=g.
  c.train.init_from = ""
  c.train.init_networks = ()  # () = every network both runs have
  # Keep WORKDIR/best_checkpoint by this eval metric ("" off), e.g. "fid" with "min".
  c.train.best_metric = ""
  c.train.best_mode = "min"  # min | max

  c.eval = ml_collections.ConfigDict()
  # Metrics by name (gan_jax/evaluation.py); () = the dataset's own, + inception if set.
  c.eval.metrics = ()
  c.eval.num_heldout = 0  # translation and SR metrics: held-out items (0: all)
  c.eval.sr_tile = 128  # super_resolution: LR images larger than this are upscaled in tiles
  c.eval.num_samples = 2500  # generated samples per evaluation (n_fake)
  # Inception metrics (FID, IS, KID, precision/recall, density/coverage) need converted
  # weights: python -m gan_jax.metrics.convert_inception --src=PATH/pt_inception-...pth
  c.eval.inception = False
  c.eval.inception_path = ""  # "" -> $GAN_JAX_INCEPTION or ~/.cache/gan_jax/inception_fid.npz
  c.eval.resize = "pytorch_fid_bilinear"  # pytorch_fid_bilinear | clean_bicubic
  c.eval.num_real = 10000  # reference images (statistics cached per dataset and protocol)
  c.eval.batch_size = 64
  # Truncation-trick sweep (digits): metrics with z truncated at each threshold, e.g.
  # (0.5, 1.0, 1.5, 2.0); --mode=sample draws one row of samples per threshold.
  c.eval.truncation = ()

  c.parallel = ml_collections.ConfigDict()
  # jit: one program over a mesh of all devices (batch sharded, state replicated).
  # pmap: the same step per device, gradients and BatchNorm statistics averaged by pmean.
  c.parallel.strategy = "jit"
  return c


def tiny(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a config to a run of seconds on one CPU core (tests use it).

  The run's length and batch are set here; the model family and the game shrink their
  own sizes (``gan_jax.models.MODELS[name].tiny``, ``gan_jax.games.GAMES[name].tiny``).
  """
  from gan_jax import games, models

  c.data.batch_size = 8
  c.train.num_steps = 4
  c.train.steps_per_call = 1
  c.train.log_every = 2
  c.train.sample_every = 2
  c.train.checkpoint_every = 2
  c.train.num_samples = 16
  c.eval.num_samples = 200
  for entry in c.optim.values():  # schedules over the tiny run: decay in its second half
    if isinstance(entry, ml_collections.ConfigDict):
      entry.decay_start, entry.decay_end = c.train.num_steps // 2, 0
      entry.milestones = tuple(m * c.train.num_steps // 8 for m in (4, 6))
  models.get_family(c.model.name).tiny(c)
  games.get(c.game.name).tiny(c)
  return c


def finalize(c: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
  """Applies the config-file argument (``None`` or ``"tiny"``)."""
  if arg in (None, ""):
    return c
  if arg == "tiny":
    return tiny(c)
  raise ValueError(f"Unknown config argument {arg!r}; valid: 'tiny'")
