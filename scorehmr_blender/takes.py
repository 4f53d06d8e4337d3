"""Takes: every import or refine of an SMPL armature is a take, an Action that knows its result file.

A take's Action carries the result file it was keyed from and the armature it belongs to, so
switching the armature's Action switches the result file with it, and the take list shows only
that armature's takes. Result files are stored next to the saved .blend (``<name>_scorehmr/``),
or in the extension's user folder until the file is saved, under names that never collide.
"""
import os
import shutil
import uuid

import bpy

from . import preferences
from .properties import SOURCE_TAG, is_smpl_armature

OWNER = "scorehmr_owner"       # on the armature and on each of its takes' Actions
RESULT = "scorehmr_result"     # on a take's Action: its result file
NUMBER = "scorehmr_take"       # on a take's Action: 1, 2, ...


def armature_id(arm):
    """A stable identity of the armature (survives renames), created on first use."""
    if OWNER not in arm:
        arm[OWNER] = uuid.uuid4().hex
    return arm[OWNER]


def is_take_of(action, arm):
    return action is not None and action.get(OWNER) == arm.get(OWNER) and RESULT in action


def takes_of(arm):
    """The armature's takes, oldest first."""
    if OWNER not in arm:
        return []
    return sorted((a for a in bpy.data.actions if is_take_of(a, arm)), key=lambda a: int(a.get(NUMBER, 0)))


def active_take(arm):
    """The armature's current Action if it is one of its takes, else None."""
    action = arm.animation_data.action if arm.animation_data else None
    return action if is_take_of(action, arm) else None


def result_path(arm):
    """The result file of the armature's current take; raises ValueError with what is wrong."""
    if not is_smpl_armature(arm):
        raise ValueError("choose an SMPL armature made by Import Video or Import Result")
    if arm.animation_data is None or arm.animation_data.action is None:
        raise ValueError(f"{arm.name} has no Action: choose one of its takes")
    take = active_take(arm)
    path = take[RESULT] if take is not None else arm[SOURCE_TAG]
    if take is None:
        raise ValueError(f"{arm.name}'s Action '{arm.animation_data.action.name}' is not one of its takes: "
                         "choose a take in the Take list")
    path = bpy.path.abspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"the take's result file is missing: {path} (Show Take Files / Move Take Files)")
    return path


def new_take(arm, action, path):
    """Tag ``action`` as the armature's next take, keyed from the result file ``path``."""
    owner = armature_id(arm)
    number = max((int(a.get(NUMBER, 0)) for a in takes_of(arm)), default=0) + 1
    action[OWNER], action[RESULT], action[NUMBER] = owner, path, number
    action.use_fake_user = True  # takes stay in the file when another take is active
    arm[SOURCE_TAG] = path
    return number


def take_name(stem, number):
    return f"{stem} take {number}"


def results_dir():
    """Where new result files go: next to the saved .blend, else the extension's user folder."""
    if bpy.data.filepath:
        folder = os.path.splitext(bpy.data.filepath)[0] + "_scorehmr"
        os.makedirs(folder, exist_ok=True)
        return folder
    return preferences.user_dir("results")


def new_result_path(stem):
    """A fresh result file name in ``results_dir()``, reserved on disk so two takes started in the
    same second (or by two Blender sessions) never share it. The backend overwrites the empty file."""
    folder = results_dir()
    for number in range(1, 100000):
        path = os.path.join(folder, f"{stem}-{number:03d}.npz")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        return path
    raise OSError(f"no free result file name for {stem} in {folder}")


def release_result_path(path):
    """Remove a reserved result file that no take uses (the job failed or was cancelled)."""
    try:
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            os.remove(path)
    except OSError:
        pass


def take_files(arm):
    return [bpy.path.abspath(t[RESULT]) for t in takes_of(arm)]


def move_take_files(arm, folder):
    """Copy the armature's take files into ``folder`` and point the takes at the copies;
    returns how many were moved (the originals are left in place)."""
    os.makedirs(folder, exist_ok=True)
    moved = 0
    for take in takes_of(arm):
        source = bpy.path.abspath(take[RESULT])
        if not os.path.isfile(source):
            raise ValueError(f"take '{take.name}': result file missing: {source}")
        target = os.path.join(folder, os.path.basename(source))
        if os.path.abspath(target) != os.path.abspath(source):
            if os.path.exists(target):
                raise ValueError(f"{target} already exists: not overwritten")
            shutil.copy2(source, target)
            moved += 1
        take[RESULT] = target
    active = active_take(arm)
    if active is not None:
        arm[SOURCE_TAG] = active[RESULT]
    return moved
