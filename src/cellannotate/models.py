"""The annotation models this tool knows, and what each one accepts.

Kept in one place so that validation, the local command and every step agree on the
names and limits Space Ranger uses.
"""

CLOUD_AUTO = "auto"
CLOUD_HUMAN = "human_pca_v1_beta"
CLOUD_MOUSE = "mouse_pca_v1_beta"
CLOUD_MODELS = (CLOUD_AUTO, CLOUD_HUMAN, CLOUD_MOUSE)
CLOUD_MODEL_SPECIES = {CLOUD_HUMAN: "human", CLOUD_MOUSE: "mouse"}

# Space Ranger 4.1 limits for the 10x Cloud models (Cell Ranger 9 used 800,000).
CLOUD_MIN_CELLS = 100
CLOUD_MAX_CELLS = 1_200_000

# Ours: the offline marker-based model (human or mouse, no download, no account).
MARKERS = "markers"
ANNOTATION_MODELS = CLOUD_MODELS + (MARKERS,)
