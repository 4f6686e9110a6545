//! Setup of question 12 (tasks, models, measurements used only by its experiment).
