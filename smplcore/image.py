"""2D measures of a person in an image, in numpy (torch twins in backend/condition.py)."""
import numpy as np


def person_size(points):
    """(..., K, 2) pixels -> (...): the larger side of the points' 2D bounding box: the unit
    landmark errors, the detector noise and the solver's condition are measured in."""
    points = np.asarray(points)
    extent = points.max(-2) - points.min(-2)
    return extent.max(-1)
