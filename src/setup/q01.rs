//! Setup of question 1 (tasks, models, measurements used only by its experiment).
