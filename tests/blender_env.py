"""Helpers for the add-on tests: bpy with a throw-away user folder, the built extension zip
installed into a fresh extension repository, test result files and test rigs.

Importing bpy here is fine for the whole pytest process: every test starts from an empty
scene (``fresh_scene``), and the add-on is installed once per session from the built zip.
"""
import os
import sys

import bpy
import numpy as np

from smplcore import rotations
from smplcore.body_model_file import default_body_model_path, load_body_model_file
from smplcore.result import MotionResult
from tools import extension

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_MODULE = "scorehmr_test"
ADDON_MODULE = extension.addon_module(REPO_MODULE)

# the throw-away user folder tests/conftest.py gave bpy; the extension repository goes beside it
_SESSION_DIR = os.path.dirname(os.environ["BLENDER_USER_RESOURCES"])


_installed = []


def backend_python():
    """An interpreter with the backend's packages: $SCOREHMR_BACKEND_PYTHON (the bpy-matrix venvs
    of scripts/bpy_matrix.sh hold bpy only and point it at .venv), else this one."""
    return os.environ.get("SCOREHMR_BACKEND_PYTHON") or sys.executable


def install_addon():
    """Build, install into a fresh local repository and enable the extension (once)."""
    if not _installed:
        _installed.append(extension.install(_SESSION_DIR, REPO_MODULE))
    return _installed[0]


def fresh_scene():
    """An empty file with the add-on enabled."""
    install_addon()
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context


def use_test_backend():
    """The add-on's preferences pointed at the project's backend Python, on the CPU."""
    prefs = bpy.context.preferences.addons[ADDON_MODULE].preferences
    prefs.python_path = backend_python()
    prefs.device = "CPU"
    return prefs


def body_model_path():
    """The shipped body model."""
    return default_body_model_path()


def write_test_result(path, model_path, num_frames=40, invalid=(7, 8), fps=30.0, seed=0):
    """A smooth synthetic motion (walk-like swings, turning, travelling) as a result file."""
    model = load_body_model_file(model_path)
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    phase = 2 * np.pi * 1.2 * t
    poses = np.zeros((num_frames, 24, 3))
    # body facing the camera: rotate the body frame (+Y up, +Z forward) by 180 deg about Y and
    # flip to the camera frame (+Y down) -> 180 deg about X composed with yaw
    for i in range(num_frames):
        yaw = rotations.axis_angle_to_matrix(np.array([0.0, 0.6 * np.sin(0.5 * phase[i]), 0.0]))
        flip = rotations.axis_angle_to_matrix(np.array([np.pi, 0.0, 0.0]))
        poses[i, 0] = rotations.matrix_to_axis_angle(flip @ yaw)
    poses[:, 1, 0] = 0.5 * np.sin(phase)      # left hip swing
    poses[:, 2, 0] = -0.5 * np.sin(phase)     # right hip swing
    poses[:, 4, 0] = 0.6 * (1 - np.cos(phase))  # knees bend
    poses[:, 5, 0] = 0.6 * (1 + np.cos(phase))
    poses[:, 16, 2] = -1.1 + 0.2 * np.sin(phase)  # arms down from the T-pose
    poses[:, 17, 2] = 1.1 - 0.2 * np.sin(phase)
    poses[:, 18, 1] = -0.7                     # elbows bent
    poses[:, 19, 1] = 0.7
    poses[:, 15] = 0.2 * np.sin(phase)[:, None] * np.array([1.0, 0.3, 0.0])
    poses[:, 3:] += rng.normal(0, 0.02, (num_frames, 21, 3))
    trans = np.stack([0.4 * t, 0.1 + 0.02 * np.sin(2 * phase), 4.0 + 0.5 * t], axis=1)
    valid = np.ones(num_frames, bool)
    valid[list(invalid)] = False
    result = MotionResult(
        poses=poses.reshape(num_frames, 72), trans=trans, betas=rng.normal(0, 0.5, 10),
        mocap_framerate=fps, frame_index=np.arange(num_frames), valid=valid,
        keypoints_2d=np.zeros((num_frames, 33, 3)), focal_length=1000.0,
        image_size=np.array([640, 480]), body_model=model.model_id)
    result.save(path)
    return MotionResult.load(path)


def tmp_path(name):
    return os.path.join(_SESSION_DIR, name)


def build_test_rig(kind, name, model_path, scale=1.15, a_pose=False, location=(2.0, 0.0, 0.0)):
    """A humanoid armature named like a Mixamo ('mixamo') or generated Rigify ('rigify') rig,
    proportioned from the body model but scaled, optionally in an A-pose, with its own rolls."""
    from mathutils import Matrix, Vector

    from smplcore import axes
    from smplcore.skeleton import JOINT_NAMES, PARENTS

    sides = {"left": ("Left", "L"), "right": ("Right", "R")}
    mixamo = {"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
              "head": "Head", "collar": "Shoulder", "shoulder": "Arm", "elbow": "ForeArm", "wrist": "Hand",
              "hand": "HandMiddle1", "hip": "UpLeg", "knee": "Leg", "ankle": "Foot", "foot": "ToeBase"}
    rigify = {"pelvis": "spine", "spine1": "spine.001", "spine2": "spine.002", "spine3": "spine.003",
              "neck": "spine.004", "head": "spine.006", "collar": "shoulder", "shoulder": "upper_arm",
              "elbow": "forearm", "wrist": "hand", "hand": "f_middle.01", "hip": "thigh", "knee": "shin",
              "ankle": "foot", "foot": "toe"}

    def bone_name(joint):
        side, _, part = joint.partition("_") if joint.startswith(("left_", "right_")) else ("", "", joint)
        if kind == "mixamo":
            return "mixamorig:" + (sides[side][0] if side else "") + mixamo[part]
        return "DEF-" + rigify[part] + (f".{sides[side][1]}" if side else "")

    model = load_body_model_file(model_path)
    heads = axes.smpl_points_to_blender(model.rest_joints()) * scale
    heads[:, 2] -= heads[:, 2].min() - 0.05 * scale  # feet on the floor, like real rigs
    if a_pose:
        for side, sign in (("left", 1.0), ("right", -1.0)):
            shoulder = JOINT_NAMES.index(f"{side}_shoulder")
            pivot = heads[shoulder].copy()
            turn = np.array(Matrix.Rotation(-sign * np.radians(40), 3, "Y"))
            for j in range(len(JOINT_NAMES)):
                k = j
                while k >= 0 and k != shoulder:
                    k = PARENTS[k]
                if k == shoulder and j != shoulder:
                    heads[j] = pivot + turn @ (heads[j] - pivot)
    data = bpy.data.armatures.new(name)
    rig = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    root = None
    if kind == "rigify":
        root = data.edit_bones.new("root")
        root.head, root.tail = (0, 0, 0), (0, -0.5, 0)
    kids = {j: [k for k, p in enumerate(PARENTS) if p == j] for j in range(24)}
    for j, joint in enumerate(JOINT_NAMES):
        bone = data.edit_bones.new(bone_name(joint))
        bone.head = Vector(heads[j])
        child = {0: 3, 9: 12}.get(j, kids[j][0] if kids[j] else None)
        tail = heads[child] if child is not None else heads[j] + 0.5 * (heads[j] - heads[PARENTS[j]])
        bone.tail = Vector(tail)
        bone.roll = 0.3 * j  # rolls unlike the SMPL armature's
    for j, joint in enumerate(JOINT_NAMES):
        bone = data.edit_bones[bone_name(joint)]
        bone.parent = data.edit_bones[bone_name(JOINT_NAMES[PARENTS[j]])] if PARENTS[j] >= 0 else root
    bpy.ops.object.mode_set(mode="OBJECT")
    rig.location = location
    bpy.context.view_layer.update()
    return rig, {joint: bone_name(joint) for joint in JOINT_NAMES}


def addon_module(name):
    """A module of the installed add-on, e.g. 'scorehmr_blender.tasks'."""
    return sys.modules[f"{ADDON_MODULE}.{name}"]


class Event:
    """What Blender passes to invoke()/modal(): only ``type`` and ``value`` are read."""

    def __init__(self, type, value="NOTHING"):
        self.type, self.value = type, value


class ModalDriver:
    """Runs a registered modal operator's own invoke()/modal() code as Blender would from a button.

    The bpy module never runs invoke for ``bpy.ops`` calls (there are no input events) and
    operator instances cannot be created from Python, so the operator's functions are bound to a
    plain object instead; the window timer is real (``event_timer_add`` on the bpy module's
    window), the modal handler is not added (nothing would dispatch to it), ``report`` is kept.
    """

    def __init__(self, idname, **props):
        cls = getattr(bpy.types, "SCOREHMR_OT_" + idname)
        members = {}
        for klass in reversed(cls.__mro__):
            if klass.__module__.startswith(ADDON_MODULE):
                members.update({k: v for k, v in vars(klass).items() if not k.startswith("__")})
        members.update(headless=staticmethod(lambda context: False), add_modal_handler=lambda self, context: None,
                       report=lambda self, kind, message: self.reports.append((set(kind), message)))
        self.op = type(f"Driven_{idname}", (), members)()
        self.op.reports = []
        for name, prop in getattr(bpy.ops.scorehmr, idname).get_rna_type().properties.items():
            if name != "rna_type":
                setattr(self.op, name, getattr(prop, "default", None))
        for name, value in props.items():
            setattr(self.op, name, value)

    def invoke(self):
        return self.op.invoke(bpy.context, Event("NONE"))

    def tick(self, event="TIMER", value="NOTHING"):
        return self.op.modal(bpy.context, Event(event, value))

    def run(self, on_tick=None, timeout=600.0, interval=0.05):
        """invoke, then timer ticks until the operator ends; ``on_tick(driver)`` after each tick."""
        import time

        started = self.invoke()
        if started != {"RUNNING_MODAL"}:
            return started
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            outcome = self.tick()
            if outcome != {"PASS_THROUGH"}:
                return outcome
            if on_tick is not None:
                on_tick(self)
            time.sleep(interval)
        raise TimeoutError(f"the operator still runs after {timeout} s")

    @property
    def task(self):
        return self.op._task


class RecordingLayout:
    """Stands in for Blender's UILayout (the bpy module never draws) and checks what draw() asks
    for: every property exists on its data, every operator is registered, every list is a
    registered UIList over a real collection. ``texts`` and ``operators`` record what is shown."""

    def __init__(self, root=None):
        self.root = root or self
        if root is None:
            self.texts, self.operators = [], []
        self.enabled = self.active = True
        self.alert = False

    def _child(self, *args, **kwargs):
        return RecordingLayout(self.root)

    row = column = box = split = column_flow = _child

    def separator(self, **kwargs):
        pass

    def label(self, text="", icon="NONE", **kwargs):
        self.root.texts.append(text)

    def progress(self, factor=0.0, text="", **kwargs):
        assert 0.0 <= factor <= 1.0, factor
        self.root.texts.append(text)

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, f"{data} has no property {name}"
        self.root.texts.append(kwargs.get("text", data.bl_rna.properties[name].name))

    def prop_search(self, data, name, search_data, search_name, **kwargs):
        assert name in data.bl_rna.properties and search_name in search_data.bl_rna.properties

    def operator(self, idname, text=None, **kwargs):
        module, _, name = idname.partition(".")
        rna = getattr(getattr(bpy.ops, module), name).get_rna_type()  # raises for an unknown operator
        self.root.operators.append(idname)
        self.root.texts.append(text if text is not None else rna.name)
        return _OperatorProperties(rna)

    def template_list(self, list_type, list_id, data, propname, active_data, active_propname, **kwargs):
        assert hasattr(bpy.types, list_type), f"UIList {list_type} is not registered"
        assert propname in data.bl_rna.properties and active_propname in active_data.bl_rna.properties
        ui_list = getattr(bpy.types, list_type)
        if "filter_items" in vars(ui_list):  # run the filter the way Blender would
            items = getattr(data, propname)
            flags, order = ui_list.filter_items(_UIListSelf(), bpy.context, data, propname)
            assert len(flags) == len(items) and (not order or len(order) == len(items))
            self.root.texts.extend(item.name for item, flag in zip(items, flags) if flag)


class _OperatorProperties:
    """The operator properties a button sets: only declared ones may be set."""

    def __init__(self, rna):
        object.__setattr__(self, "_names", set(rna.properties.keys()))

    def __setattr__(self, name, value):
        assert name in self._names, f"operator has no property {name}"


class _UIListSelf:
    bitflag_filter_item = 1 << 30


def draw_panel(panel_idname, context=None):
    """Run a registered panel's draw() on a RecordingLayout; returns the layout."""
    panel = getattr(bpy.types, panel_idname)
    layout = RecordingLayout()
    holder = type("PanelSelf", (), {"layout": layout})()
    panel.draw(holder, context or bpy.context)
    return layout
