//! Setup of question 7 (tasks, models, measurements used only by its experiment).
