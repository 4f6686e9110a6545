//! Setup of question 2 (tasks, models, measurements used only by its experiment).
