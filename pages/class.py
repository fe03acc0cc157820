"""Screen: a class's live questions — the instructor's projector (join code, QR code, live histogram, reveal, vote
again, CSV) or a student's phone (/class?code=K7M2QX: the question appears by itself, answer at a tap).

Everything is in ui/classroom_view.py; the database is cnnviz.classroom.ClassStore.
"""

import ui
from ui import classroom_view

t, state = ui.page("class")
classroom_view.page(t, state)
